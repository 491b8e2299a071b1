// Files and directories: open, read, write, stat, create, remove, rename, links, directory
// streams, locks, ownership and modes, and the name-relative calls that take the raw bytes of a
// directory entry (names on a volume need not be UTF-8, and the ownership walk must not build a
// String per entry). Same contract as Syscalls.swift: raw C result, `errno` left set, mock
// driver asked first. Paths are passed with `withCString`: a small string (stored inline, with no
// NUL after it) is then copied to the stack, where the implicit String-to-pointer conversion
// allocates a heap copy for every call (a map opens dozens of short attribute paths).

import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// openat(2).
package func system_openat(_ dirfd: CInt, _ path: String, _ flags: CInt, _ mode: mode_t = 0) -> CInt {
    if let r = mocked(#function, path: path, ["flags=\(flags)", "mode=\(String(mode, radix: 8))"]) {
        return CInt(r)
    }
    let fd = path.withCString { csupport_openat(dirfd, $0, flags, UInt32(mode)) }
    rememberOpen(fd, path)
    return fd
}

/// close(2). Never retried on EINTR (the fd is gone either way on Linux).
package func system_close(_ fd: CInt) -> CInt {
    #if ENABLE_MOCKING
        MockingDriver.current?.closed(fd)
    #endif
    return close(fd)
}

/// read(2).
package func system_read(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    if let r = mocked(#function, fd: fd, ["count=\(buffer.count)"]) { return r }
    return read(fd, buffer.baseAddress, buffer.count)
}

/// pread(2).
package func system_pread(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Int {
    if let r = mocked("pread", fd: fd, ["count=\(buffer.count)", "offset=\(offset)"]) { return r }
    return pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
}

/// write(2).
package func system_write(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) -> Int {
    if let r = mocked(#function, fd: fd, [render(buffer), "count=\(buffer.count)"]) { return r }
    return write(fd, buffer.baseAddress, buffer.count)
}

/// fsync(2).
package func system_fsync(_ fd: CInt) -> CInt {
    if let r = mocked(#function, fd: fd) { return CInt(r) }
    return fsync(fd)
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

/// ftruncate(2).
package func system_ftruncate(_ fd: CInt, _ length: Int64) -> CInt {
    if let r = mocked(#function, fd: fd, ["\(length)"]) { return CInt(r) }
    return ftruncate(fd, off_t(length))
}

/// fstatat(2).
package func system_fstatat(_ dirfd: CInt, _ path: String, _ buffer: inout stat, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: path) { return CInt(r) }
    return path.withCString { fstatat(dirfd, $0, &buffer, flags) }
}

/// fstat(2).
package func system_fstat(_ fd: CInt, _ buffer: inout stat) -> CInt {
    if let r = mocked(#function, fd: fd) { return CInt(r) }
    return fstat(fd, &buffer)
}

/// statx(2), through CSupport (glibc hides it).
package func system_statx(
    _ dirfd: CInt, _ path: String, _ flags: CInt, _ mask: UInt32, _ buffer: inout statx
) -> CInt {
    if let r = mocked(#function, path: path) { return CInt(r) }
    return path.withCString { csupport_statx(dirfd, $0, flags, mask, &buffer) }
}

/// mkdirat(2).
package func system_mkdirat(_ dirfd: CInt, _ path: String, _ mode: mode_t) -> CInt {
    if let r = mocked(#function, path: path, [String(mode, radix: 8)]) { return CInt(r) }
    return path.withCString { mkdirat(dirfd, $0, mode) }
}

/// unlinkat(2) (`AT_REMOVEDIR` removes a directory).
package func system_unlinkat(_ dirfd: CInt, _ path: String, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: path, ["flags=\(flags)"]) { return CInt(r) }
    return path.withCString { unlinkat(dirfd, $0, flags) }
}

/// renameat(2).
package func system_renameat(_ oldDirfd: CInt, _ old: String, _ newDirfd: CInt, _ new: String) -> CInt {
    if let r = mocked(#function, path: new, [old]) { return CInt(r) }
    return renameat(oldDirfd, old, newDirfd, new)
}

/// readlinkat(2).
package func system_readlinkat(_ dirfd: CInt, _ path: String, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    if let r = mocked(#function, path: path) { return r }
    return path.withCString {
        readlinkat(dirfd, $0, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
    }
}

/// symlinkat(2).
package func system_symlinkat(_ target: String, _ dirfd: CInt, _ path: String) -> CInt {
    if let r = mocked(#function, path: path, [target]) { return CInt(r) }
    return symlinkat(target, dirfd, path)
}

/// faccessat(2): whether the caller may use `path` as `mode` asks (`X_OK`: run it).
package func system_faccessat(_ dirfd: CInt, _ path: String, _ mode: CInt, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: path, ["mode=\(mode)", "flags=\(flags)"]) { return CInt(r) }
    return path.withCString { faccessat(dirfd, $0, mode, flags) }
}

/// getdents64(2): the next entries of the directory open at `fd`, as linux_dirent64 records in
/// `buffer`; the byte count, 0 at the end. A mock's `succeed(0)` ends the listing.
package func system_getdents64(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    if let r = mocked(#function, fd: fd, ["count=\(buffer.count)"]) { return r }
    return csupport_getdents64(fd, buffer.baseAddress, buffer.count)
}

/// opendir(3) on an open directory fd (the fd then belongs to the stream).
package func system_fdopendir(_ fd: CInt) -> OpaquePointer? {
    if mocked(#function, fd: fd) != nil { return nil }
    return fdopendir(fd)
}

/// readdir(3). `errno` is cleared first: after `nil`, a non-zero `Errno.current` is readdir's
/// error and zero the end of the directory (readdir returns `nil` for both). A mock's `fail` ends
/// the stream with that errno set, its `succeed` ends it as the end of the directory does.
package func system_readdir(_ stream: OpaquePointer) -> UnsafeMutablePointer<dirent>? {
    errno = 0
    #if ENABLE_MOCKING
        if mocked(#function, fd: dirfd(stream)) != nil { return nil }
    #endif
    errno = 0  // again: the mock driver's bookkeeping ran since
    return readdir(stream)
}

/// closedir(3).
package func system_closedir(_ stream: OpaquePointer) -> CInt {
    #if ENABLE_MOCKING
        MockingDriver.current?.closed(dirfd(stream))
    #endif
    return closedir(stream)
}

/// flock(2).
package func system_flock(_ fd: CInt, _ operation: CInt) -> CInt {
    if let r = mocked(#function, fd: fd, ["op=\(operation)"]) { return CInt(r) }
    return flock(fd, operation)
}

/// mknodat(2).
package func system_mknodat(_ dirfd: CInt, _ path: String, _ mode: mode_t, _ device: dev_t) -> CInt {
    if let r = mocked(#function, path: path, [String(mode, radix: 8), "\(device)"]) { return CInt(r) }
    return path.withCString { mknodat(dirfd, $0, mode, device) }
}

/// fchownat(2) (use `AT_SYMLINK_NOFOLLOW` to never follow a symlink).
package func system_fchownat(_ dirfd: CInt, _ path: String, _ uid: uid_t, _ gid: gid_t, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: path, ["\(Int64(uid))", "\(Int64(gid))"]) { return CInt(r) }
    return path.withCString { fchownat(dirfd, $0, uid, gid, flags) }
}

/// fchown(2).
package func system_fchown(_ fd: CInt, _ uid: uid_t, _ gid: gid_t) -> CInt {
    if let r = mocked(#function, fd: fd, ["\(Int64(uid))", "\(Int64(gid))"]) { return CInt(r) }
    return fchown(fd, uid, gid)
}

/// fchmod(2).
package func system_fchmod(_ fd: CInt, _ mode: mode_t) -> CInt {
    if let r = mocked(#function, fd: fd, [String(mode, radix: 8)]) { return CInt(r) }
    return fchmod(fd, mode)
}

/// fchmodat(2). With `AT_SYMLINK_NOFOLLOW` glibc refuses symlinks (EOPNOTSUPP) instead of
/// following them.
package func system_fchmodat(_ dirfd: CInt, _ path: String, _ mode: mode_t, _ flags: CInt) -> CInt {
    if let r = mocked("fchmodat", path: path, [String(mode, radix: 8), "flags=\(flags)"]) { return CInt(r) }
    return path.withCString { fchmodat(dirfd, $0, mode, flags) }
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
