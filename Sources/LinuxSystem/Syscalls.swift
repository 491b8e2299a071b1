// The one syscall layer. Every side-effecting libc or CSupport call of the package has exactly
// one wrapper here, named after the C call with a `system_` prefix. A wrapper returns the raw
// C result and leaves `errno` set; the caller turns -1 into `Errno` at once (see `SyscallError`)
// and decides the EINTR policy itself: a sysfs control write is never retried blindly.
// In debug builds each wrapper first asks the task's `MockingDriver` (see Mocking.swift).
import CSupport
import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// The calling thread's `errno`.
package func system_errno() -> CInt { errno }

/// Asks the mocking driver of the current task about a call; `nil` means "run the real call".
/// `name` is the C name of the call (`"fchmodat"`), or `#function` of the calling wrapper, which
/// names it too (`system_write(_:_:)` → `write`). `path` and `arguments` are built only when a
/// driver is installed (the ownership walk calls this per directory entry). Shared by every
/// `Syscalls*.swift` file.
@inline(__always)
func mocked(
    _ name: String, path: @autoclosure () -> String? = nil, fd: CInt? = nil,
    _ arguments: @autoclosure () -> [String] = []
) -> Int? {
    #if ENABLE_MOCKING
    guard let driver = MockingDriver.current else { return nil }
    var call = Substring(name)
    if call.hasPrefix("system_") {
        call = call.dropFirst(7)
        if let paren = call.firstIndex(of: "(") { call = call[..<paren] }
    }
    switch driver.intercept(String(call), path: path(), fd: fd, arguments: arguments()) {
    case .passthrough: return nil
    case .fail(let error):
        errno = error.rawValue
        return -1
    case .succeed(let value): return value
    }
    #else
    return nil
    #endif
}

/// Tells the mocking driver which path an fd was opened with.
@inline(__always)
func rememberOpen(_ fd: CInt, _ path: @autoclosure () -> String) {
    #if ENABLE_MOCKING
    if fd >= 0, let driver = MockingDriver.current { driver.opened(fd, path: path()) }
    #endif
}

/// Renders a buffer for the mock trace: text when it is printable, else its size.
private func render(_ buffer: UnsafeRawBufferPointer) -> String {
    let bytes = Array(buffer.prefix(512))
    if bytes.allSatisfy({ $0 == 9 || $0 == 10 || (32..<127).contains($0) }) {
        return redactingSecrets(String(decoding: bytes, as: UTF8.self))
    }
    return "<\(buffer.count) bytes>"
}

/// `text` with the value of every `secret=` option replaced by `<redacted>` (an rbd add
/// request may carry one): the mock trace shows up in test and CI output.
package func redactingSecrets(_ text: String) -> String {
    guard mayHoldSecret(text) else { return text }
    var out = ""
    var rest = Substring(text)
    while let range = rest.firstRange(of: "secret=") {
        out += rest[..<range.upperBound] + "<redacted>"
        rest = rest[range.upperBound...].drop { $0 != "," && $0 != " " && $0 != "\n" && $0 != "\t" }
    }
    return out + rest
}

/// Whether `text` has `secret=` in it: a byte scan (`String.contains` goes through the generic
/// string-processing searcher, ~30k instructions for a device's config_info: half of a read-back).
private func mayHoldSecret(_ text: String) -> Bool {
    var text = text
    return text.withUTF8 { bytes in
        let marker: StaticString = "secret="
        let count = marker.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        var index = 0
        while index <= bytes.count - count {
            if bytes[index] == UInt8(ascii: "s") {
                var offset = 1
                while offset < count, bytes[index + offset] == marker.utf8Start[offset] { offset += 1 }
                if offset == count { return true }
            }
            index += 1
        }
        return false
    }
}

// MARK: Files and directories

/// openat(2).
package func system_openat(_ dirfd: CInt, _ path: String, _ flags: CInt, _ mode: mode_t = 0) -> CInt {
    if let r = mocked(#function, path: path, ["flags=\(flags)", "mode=\(String(mode, radix: 8))"]) {
        return CInt(r)
    }
    let fd = csupport_openat(dirfd, path, flags, UInt32(mode))
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

/// ftruncate(2).
package func system_ftruncate(_ fd: CInt, _ length: Int64) -> CInt {
    if let r = mocked(#function, fd: fd, ["\(length)"]) { return CInt(r) }
    return ftruncate(fd, off_t(length))
}

/// fstatat(2).
package func system_fstatat(_ dirfd: CInt, _ path: String, _ buffer: inout stat, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: path) { return CInt(r) }
    return fstatat(dirfd, path, &buffer, flags)
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
    return csupport_statx(dirfd, path, flags, mask, &buffer)
}

/// mkdirat(2).
package func system_mkdirat(_ dirfd: CInt, _ path: String, _ mode: mode_t) -> CInt {
    if let r = mocked(#function, path: path, [String(mode, radix: 8)]) { return CInt(r) }
    return mkdirat(dirfd, path, mode)
}

/// unlinkat(2) (`AT_REMOVEDIR` removes a directory).
package func system_unlinkat(_ dirfd: CInt, _ path: String, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: path, ["flags=\(flags)"]) { return CInt(r) }
    return unlinkat(dirfd, path, flags)
}

/// renameat(2).
package func system_renameat(_ oldDirfd: CInt, _ old: String, _ newDirfd: CInt, _ new: String) -> CInt {
    if let r = mocked(#function, path: new, [old]) { return CInt(r) }
    return renameat(oldDirfd, old, newDirfd, new)
}

/// readlinkat(2).
package func system_readlinkat(_ dirfd: CInt, _ path: String, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    if let r = mocked(#function, path: path) { return r }
    return readlinkat(dirfd, path, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
}

/// symlinkat(2).
package func system_symlinkat(_ target: String, _ dirfd: CInt, _ path: String) -> CInt {
    if let r = mocked(#function, path: path, [target]) { return CInt(r) }
    return symlinkat(target, dirfd, path)
}

/// opendir(3) on an open directory fd (the fd then belongs to the stream).
package func system_fdopendir(_ fd: CInt) -> OpaquePointer? {
    if mocked(#function, fd: fd) != nil { return nil }
    return fdopendir(fd)
}

/// readdir(3).
package func system_readdir(_ stream: OpaquePointer) -> UnsafeMutablePointer<dirent>? {
    readdir(stream)
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
    return mknodat(dirfd, path, mode, device)
}

/// fchownat(2) (use `AT_SYMLINK_NOFOLLOW` to never follow a symlink).
package func system_fchownat(_ dirfd: CInt, _ path: String, _ uid: uid_t, _ gid: gid_t, _ flags: CInt) -> CInt {
    if let r = mocked(#function, path: path, ["\(Int64(uid))", "\(Int64(gid))"]) { return CInt(r) }
    return fchownat(dirfd, path, uid, gid, flags)
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

// MARK: Mounts

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

// MARK: Kernel keyring

/// add_key(2), through CSupport. The payload never appears in the mock trace.
package func system_add_key(
    _ type: String, _ description: String, _ payload: UnsafeRawBufferPointer, _ keyring: Int32
) -> Int32 {
    if let r = mocked(#function, path: description, [type, "<\(payload.count) secret bytes>", "\(keyring)"]) {
        return Int32(truncatingIfNeeded: r)
    }
    return csupport_add_key(type, description, payload.baseAddress, payload.count, keyring)
}

/// keyctl(KEYCTL_UNLINK).
package func system_keyctl_unlink(_ key: Int32, _ keyring: Int32) -> Int {
    if let r = mocked(#function, ["\(key)", "\(keyring)"]) { return r }
    return csupport_keyctl_unlink(key, keyring)
}

// MARK: Processes

/// posix_spawn(3), with the file actions already built by the caller.
package func system_posix_spawn(
    _ pid: inout pid_t, _ path: String, _ actions: UnsafePointer<posix_spawn_file_actions_t>?,
    _ argv: [UnsafeMutablePointer<CChar>?], _ envp: [UnsafeMutablePointer<CChar>?]
) -> CInt {
    if let r = mocked(#function, path: path, argv.dropFirst().compactMap { $0.map { String(cString: $0) } }) {
        // A mocked spawn "fails" by returning the error number, as posix_spawn does.
        return r == -1 ? errno : CInt(r)
    }
    return posix_spawn(&pid, path, actions, nil, argv, envp)
}

/// waitpid(2).
package func system_waitpid(_ pid: pid_t, _ status: inout CInt, _ options: CInt) -> pid_t {
    waitpid(pid, &status, options)
}

/// kill(2).
package func system_kill(_ pid: pid_t, _ signal: CInt) -> CInt {
    kill(pid, signal)
}

/// pipe2(2).
package func system_pipe2(_ fds: UnsafeMutablePointer<CInt>, _ flags: CInt) -> CInt {
    csupport_pipe2(fds, flags)
}

/// poll(2).
package func system_poll(_ fds: UnsafeMutablePointer<pollfd>, _ count: Int, _ timeout: CInt) -> CInt {
    poll(fds, nfds_t(count), timeout)
}

// MARK: Identity

/// uname(2).
package func system_uname(_ buffer: inout utsname) -> CInt {
    if let r = mocked(#function) { return CInt(r) }
    return uname(&buffer)
}

/// geteuid(2).
package func system_geteuid() -> uid_t { geteuid() }
