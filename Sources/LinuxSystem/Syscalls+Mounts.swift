// Mounts: mount(2) and umount2(2), statvfs for the flags a mount carries, and the new mount API
// (open_tree, mount_setattr, move_mount) through CSupport. Same contract as Syscalls.swift.

import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// mount(2).
package func system_mount(
    _ source: String?, _ target: String, _ fstype: String?, _ flags: UInt, _ data: String?
) -> CInt {
    if let r = mocked(#function, path: target, [source ?? "NULL", fstype ?? "NULL", "flags=\(flags)", data ?? "NULL"]) {
        return CInt(r)
    }
    return mount(source, target, fstype, flags, data)
}

/// umount2(2).
package func system_umount2(_ target: String, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: target, ["flags=\(flags)"]) { return CInt(r) }
    return umount2(target, flags)
}

/// statvfs(3) (statfs(2) underneath); `f_flag` carries the mount's ST_* flags.
/// statvfs(3). A mock's success value is the `f_flag` it reports (`ST_*` = `MS_*` values).
package func system_statvfs(_ path: String, _ buffer: inout statvfs) -> CInt {
    if let r = mocked("statvfs", path: path) {
        guard r >= 0 else { return CInt(r) }
        buffer.f_flag = UInt(r)
        return 0
    }
    return statvfs(path, &buffer)
}

// MARK: The new mount API

/// open_tree(2), through CSupport.
package func system_open_tree(_ dirfd: CInt, _ path: String, _ flags: UInt32) -> CInt {
    if let r = mocked("open_tree", path: path, ["flags=\(flags)"]) { return CInt(r) }
    let fd = csupport_open_tree(dirfd, path, flags)
    rememberOpen(fd, path)
    return fd
}

/// mount_setattr(2), through CSupport.
package func system_mount_setattr(
    _ dirfd: CInt, _ path: String, _ flags: UInt32, _ attr: inout csupport_mount_attr
) -> CInt {
    if let r = mocked(
        "mount_setattr", path: path.isEmpty ? nil : path, fd: dirfd,
        ["set=\(attr.attr_set)", "clr=\(attr.attr_clr)"])
    {
        return CInt(r)
    }
    return csupport_mount_setattr(dirfd, path, flags, &attr)
}

/// move_mount(2), through CSupport.
package func system_move_mount(
    _ fromDirfd: CInt, _ fromPath: String, _ toDirfd: CInt, _ toPath: String, _ flags: UInt32
) -> CInt {
    if let r = mocked("move_mount", path: toPath, ["flags=\(flags)"]) { return CInt(r) }
    return csupport_move_mount(fromDirfd, fromPath, toDirfd, toPath, flags)
}
