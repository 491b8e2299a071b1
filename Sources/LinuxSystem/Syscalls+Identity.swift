// Who and where the process runs: uname(2), geteuid(2). Same contract as Syscalls.swift.

import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// uname(2).
package func system_uname(_ buffer: inout utsname) -> CInt {
    if let r = mocked(#function) { return CInt(r) }
    return uname(&buffer)
}

/// geteuid(2). A mock's success value is the uid it reports (geteuid cannot fail: a `fail` is
/// ignored).
package func system_geteuid() -> uid_t {
    if let r = mocked(#function), r >= 0 { return uid_t(truncatingIfNeeded: r) }
    return geteuid()
}
