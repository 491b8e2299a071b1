// Block devices: ioctl(2) and device numbers. Same contract as Syscalls.swift.

import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// ioctl(2) with a pointer argument.
package func system_ioctl(_ fd: CInt, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> CInt {
    if let r = mocked(#function, fd: fd, ["request=\(request)"]) { return CInt(r) }
    return csupport_ioctl_ptr(fd, request, argument)
}

/// ioctl(2) with an integer argument.
package func system_ioctl(_ fd: CInt, _ request: UInt, value: UInt) -> CInt {
    if let r = mocked(#function, fd: fd, ["request=\(request)", "\(value)"]) { return CInt(r) }
    return csupport_ioctl_int(fd, request, value)
}

/// makedev(3).
package func system_makedev(_ major: UInt32, _ minor: UInt32) -> dev_t { csupport_makedev(major, minor) }

/// major(3).
package func system_major(_ device: dev_t) -> UInt32 { csupport_major(device) }

/// minor(3).
package func system_minor(_ device: dev_t) -> UInt32 { csupport_minor(device) }
