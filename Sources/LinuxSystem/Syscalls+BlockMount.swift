// The syscall wrappers BlockMount needs beyond Syscalls.swift: positioned reads for the blank
// check, statvfs for the flags a bind must keep, the new mount API (open_tree, mount_setattr,
// move_mount), and name-relative calls that take the raw bytes of a directory entry (names on
// a volume need not be UTF-8, and the ownership walk must not build a String per entry).
// Same contract as Syscalls.swift: raw C result, `errno` left set, mock driver asked first.
import CSupport
import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

// MARK: Reads and file-system facts

/// pread(2).
package func system_pread(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Int {
    if let r = mocked("pread", fd: fd, ["count=\(buffer.count)", "offset=\(offset)"]) { return r }
    return pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
}

/// posix_fadvise(2) with the syscall convention of the other wrappers: 0, or -1 with `errno`
/// set (glibc's posix_fadvise returns the error number instead).
package func system_posix_fadvise(_ fd: CInt, _ offset: Int64, _ length: Int64, _ advice: CInt) -> CInt {
    if let r = mocked("posix_fadvise", fd: fd, ["offset=\(offset)", "length=\(length)", "advice=\(advice)"]) {
        return CInt(r)
    }
    let rc = posix_fadvise(fd, off_t(offset), off_t(length), advice)
    if rc == 0 { return 0 }
    errno = rc
    return -1
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

/// fchmodat(2). With `AT_SYMLINK_NOFOLLOW` glibc refuses symlinks (EOPNOTSUPP) instead of
/// following them.
package func system_fchmodat(_ dirfd: CInt, _ path: String, _ mode: mode_t, _ flags: CInt) -> CInt {
    if let r = mocked("fchmodat", path: path, [String(mode, radix: 8), "flags=\(flags)"]) { return CInt(r) }
    return fchmodat(dirfd, path, mode, flags)
}

// MARK: Name-relative calls on raw entry names

/// openat(2) of a raw directory-entry name relative to `dirfd`.
package func system_openat(_ dirfd: CInt, name: UnsafePointer<CChar>, _ flags: CInt, _ mode: mode_t = 0) -> CInt {
    if let r = mocked("openat", path: String(cString: name), ["flags=\(flags)"]) { return CInt(r) }
    let fd = csupport_openat(dirfd, name, flags, UInt32(mode))
    rememberOpen(fd, String(cString: name))
    return fd
}

/// fstatat(2) of a raw directory-entry name relative to `dirfd`.
package func system_fstatat(_ dirfd: CInt, name: UnsafePointer<CChar>, _ buffer: inout stat, _ flags: CInt) -> CInt {
    if let r = mocked("fstatat", path: String(cString: name)) { return CInt(r) }
    return fstatat(dirfd, name, &buffer, flags)
}

/// fchownat(2) of a raw directory-entry name relative to `dirfd`.
package func system_fchownat(
    _ dirfd: CInt, name: UnsafePointer<CChar>, _ uid: uid_t, _ gid: gid_t, _ flags: CInt
) -> CInt {
    if let r = mocked("fchownat", path: String(cString: name), ["\(Int64(uid))", "\(Int64(gid))"]) {
        return CInt(r)
    }
    return fchownat(dirfd, name, uid, gid, flags)
}

/// fchmodat(2) of a raw directory-entry name relative to `dirfd`.
package func system_fchmodat(_ dirfd: CInt, name: UnsafePointer<CChar>, _ mode: mode_t, _ flags: CInt) -> CInt {
    if let r = mocked("fchmodat", path: String(cString: name), [String(mode, radix: 8)]) { return CInt(r) }
    return fchmodat(dirfd, name, mode, flags)
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
    if let r = mocked("mount_setattr", path: path.isEmpty ? nil : path, fd: dirfd,
                          ["set=\(attr.attr_set)", "clr=\(attr.attr_clr)"]) {
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

// MARK: Time

/// usleep(3): the pause of polling waits (mkfs queue).
package func system_usleep(_ microseconds: UInt32) {
    _ = usleep(useconds_t(microseconds))
}

// fchmodat2: the benchmark of the ownership walk showed that glibc's
// fchmodat(AT_SYMLINK_NOFOLLOW) costs four syscalls per file.
/// fchmodat2(2) (Linux 6.6) of a raw directory-entry name relative to `dirfd`, through CSupport:
/// `AT_SYMLINK_NOFOLLOW` in one syscall. Fails with ENOSYS on older kernels.
///
/// The mock driver sees it as `fchmodat`, the call it stands in for, so that one mock drives the
/// chmod of the ownership walk on every kernel.
package func system_fchmodat2(_ dirfd: CInt, name: UnsafePointer<CChar>, _ mode: mode_t, _ flags: CInt) -> CInt {
    if let r = mocked("fchmodat", path: String(cString: name), [String(mode, radix: 8)]) { return CInt(r) }
    return csupport_fchmodat2(dirfd, name, UInt32(mode), flags)
}
