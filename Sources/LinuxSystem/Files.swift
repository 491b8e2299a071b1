// Small file helpers built on the syscall wrappers. Reads retry EINTR; control writes do not.
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// File operations the modules share; every call goes through the `system_*` wrappers.
package enum Files {
    /// Opens `path` with `flags | O_CLOEXEC`, retrying EINTR.
    package static func open(_ path: FilePath, _ flags: CInt, mode: mode_t = 0) throws(SyscallError) -> CInt {
        try valueOrErrno(retryOnInterrupt: true) { system_openat(AT_FDCWD, path.string, flags | O_CLOEXEC, mode) }
            .get("open", path: path)
    }

    /// Opens a directory for fd-relative lookups (`attribute(at:_:equals:)`); close it with
    /// `system_close`.
    package static func openDirectory(_ path: FilePath) throws(SyscallError) -> CInt {
        try open(path, O_RDONLY | O_DIRECTORY)
    }

    /// Reads a whole file of at most `limit` bytes (sysfs attributes are at most a page).
    /// `shortReadEnds`: a read that returns less than asked for is taken as the end (true of a
    /// regular file, which the caller knows it reads; never of procfs), saving the read that
    /// would return 0.
    package static func readBytes(_ path: FilePath, limit: Int = 1 << 20, shortReadEnds: Bool = false)
        throws(SyscallError) -> [UInt8]
    {
        let fd = try open(path, O_RDONLY)
        defer { _ = system_close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let n = try valueOrErrno(retryOnInterrupt: true) { chunk.withUnsafeMutableBytes { system_read(fd, $0) } }
                .get("read", path: path)
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if shortReadEnds && n < chunk.count { break }
        }
        return result
    }

    /// Reads a text file.
    package static func readText(_ path: FilePath, limit: Int = 1 << 20) throws(SyscallError) -> String {
        String(decoding: try readBytes(path, limit: limit), as: UTF8.self)
    }

    /// Reads a one-line sysfs-style attribute, without its trailing newline.
    package static func readAttribute(_ path: FilePath) throws(SyscallError) -> String {
        try readAttribute(path.string)
    }

    /// Reads a sysfs-style attribute at `path` (a plain string: the hot lookup path builds no
    /// `FilePath`), without its trailing newline. A sysfs attribute is at most a page and comes
    /// back in one read(2); a short read ends the loop, so the common case is open, one read, close.
    package static func readAttribute(_ path: String) throws(SyscallError) -> String {
        try withAttributeBytes(path) { bytes in String(decoding: bytes, as: UTF8.self) }
    }

    /// `readAttribute(_:)` for a path relative to the open directory `directory`.
    package static func readAttribute(at directory: CInt, _ path: String) throws(SyscallError) -> String {
        try withAttributeBytes(path, relativeTo: directory) { bytes in String(decoding: bytes, as: UTF8.self) }
    }

    /// Whether the attribute at `path` (without its trailing newline) is exactly `expected`;
    /// `nil` when it cannot be read. Compares bytes in a stack buffer: no allocation.
    package static func attribute(_ path: String, equals expected: String) -> Bool? {
        attribute(at: AT_FDCWD, path, equals: expected)
    }

    /// `attribute(_:equals:)` for a path relative to the open directory `directory` (a scan of
    /// many devices opens short relative paths instead of resolving the whole path each time).
    package static func attribute(at directory: CInt, _ path: String, equals expected: String) -> Bool? {
        try? withAttributeBytes(path, relativeTo: directory) { bytes in
            var expected = expected
            return expected.withUTF8 { $0.elementsEqual(bytes) }
        }
    }

    /// `attribute(at:_:equals:)` that tells "cannot read" apart: throws the open or read error
    /// (ENOENT: the attribute, or its device, is not there).
    package static func checkedAttribute(at directory: CInt, _ path: String, equals expected: String)
        throws(SyscallError)
        -> Bool
    {
        try withAttributeBytes(path, relativeTo: directory) { bytes in
            var expected = expected
            return expected.withUTF8 { $0.elementsEqual(bytes) }
        }
    }

    /// Calls `body` with the attribute's bytes (trailing newlines removed), read into a stack buffer.
    private static func withAttributeBytes<R>(
        _ path: String, relativeTo directory: CInt = AT_FDCWD, _ body: (UnsafeRawBufferPointer) -> R
    ) throws(SyscallError) -> R {
        let fd = try valueOrErrno(retryOnInterrupt: true) { system_openat(directory, path, O_RDONLY | O_CLOEXEC, 0) }
            .get("open", path: FilePath(path))
        defer { _ = system_close(fd) }
        let capacity = 4096
        let outcome: Result<R, SyscallError> = withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 1) {
            buffer in
            var count = 0
            while count < capacity {
                let n: Int
                do throws(SyscallError) {
                    n = try valueOrErrno(retryOnInterrupt: true) {
                        system_read(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
                    }.get("read", path: FilePath(path))
                } catch {
                    return .failure(error)
                }
                count += n
                if n == 0 || count < capacity { break }
            }
            while count > 0 && buffer[count - 1] == 0x0A { count -= 1 }
            return .success(body(UnsafeRawBufferPointer(rebasing: buffer[..<count])))
        }
        return try outcome.get()
    }

    /// Writes `bytes` to an existing control file in exactly one `write(2)`.
    ///
    /// Opens `O_WRONLY|O_CLOEXEC` (no create, no truncate), never retries EINTR (the kernel may
    /// have acted on the command), and treats a short write as an error (`EIO`).
    package static func writeControl(_ path: FilePath, _ bytes: [UInt8]) throws(SyscallError) {
        let fd = try valueOrErrno(retryOnInterrupt: false) {
            system_openat(AT_FDCWD, path.string, O_WRONLY | O_CLOEXEC, 0)
        }
        .get("open", path: path)
        defer { _ = system_close(fd) }
        let n = try valueOrErrno(retryOnInterrupt: false) { bytes.withUnsafeBytes { system_write(fd, $0) } }
            .get("write", path: path)
        if n != bytes.count { throw SyscallError("write", path: path, errno: .ioError) }
    }

    /// Names in a directory, without `.` and `..`, unsorted.
    package static func list(_ path: FilePath) throws(SyscallError) -> [String] {
        var names: [String] = []
        try forEachName(path) { names.append(String(decoding: $0, as: UTF8.self)) }
        return names
    }

    /// Calls `body` with each name in a directory, as its bytes in the kernel's buffer (valid
    /// only during the call), without `.` and `..`, in the kernel's order: a scan that wants only
    /// some names, or only their numbers, makes no String for the others.
    ///
    /// open, getdents64 until it returns 0, close: no directory stream (opendir adds an fstat
    /// and two fcntls, which cost as much as the listing of a small sysfs directory), and a
    /// failed read is an error, never a short listing (readdir tells its end and its failures
    /// apart only through errno).
    package static func forEachName(_ path: FilePath, _ body: (UnsafeBufferPointer<UInt8>) -> Void)
        throws(SyscallError)
    {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { _ = system_close(fd) }
        // linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), then the name and a NUL.
        let nameOffset = 19
        try withUnsafeTemporaryAllocation(byteCount: 32_768, alignment: 8) { (buffer) throws(SyscallError) in
            while true {
                let filled = try valueOrErrno(retryOnInterrupt: true) { system_getdents64(fd, buffer) }
                    .get("getdents64", path: path)
                if filled == 0 { return }
                var offset = 0
                while offset + nameOffset < filled {
                    let record = buffer.baseAddress!.advanced(by: offset)
                    let length = Int(record.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
                    guard length > nameOffset, offset + length <= filled else {
                        throw SyscallError("getdents64", path: path, errno: .ioError)  // never from a kernel
                    }
                    let start = record.advanced(by: nameOffset).assumingMemoryBound(to: UInt8.self)
                    var count = 0
                    while count < length - nameOffset && start[count] != 0 { count += 1 }
                    offset += length
                    if start[0] == 0x2E && (count == 1 || (count == 2 && start[1] == 0x2E)) { continue }
                    body(UnsafeBufferPointer(start: start, count: count))
                }
                // A kernel fills whole records only.
                guard offset == filled else { throw SyscallError("getdents64", path: path, errno: .ioError) }
            }
        }
    }

    /// `lstat`-like information, or `nil` when nothing is at `path`.
    package static func status(_ path: FilePath, followSymlinks: Bool = false) throws(SyscallError) -> stat? {
        var st = stat()
        let flags: CInt = followSymlinks ? 0 : AT_SYMLINK_NOFOLLOW
        switch valueOrErrno(retryOnInterrupt: false, { system_fstatat(AT_FDCWD, path.string, &st, flags) }) {
        case .success: return st
        case .failure(.noSuchFileOrDirectory), .failure(.notDirectory): return nil
        case .failure(let error): throw SyscallError("stat", path: path, errno: error)
        }
    }

    /// Whether anything (file, directory, symlink) is at `path`.
    package static func exists(_ path: FilePath) -> Bool {
        ((try? status(path)) ?? nil) != nil
    }

    /// Whether `path` is a directory (not following a final symlink).
    package static func isDirectory(_ path: FilePath) -> Bool {
        guard let st = (try? status(path)) ?? nil else { return false }
        return st.st_mode & S_IFMT == S_IFDIR
    }

    /// `mkdir -p` with `mode` for each directory it creates.
    package static func makeDirectories(_ path: FilePath, mode: mode_t = 0o750) throws(SyscallError) {
        if isDirectory(path) { return }
        let parent = path.removingLastComponent()
        if !parent.isEmpty, parent != path { try makeDirectories(parent, mode: mode) }
        let made = valueOrErrno(retryOnInterrupt: false) { system_mkdirat(AT_FDCWD, path.string, mode) }
        if case .failure(let error) = made {
            if error == .fileExists, isDirectory(path) { return }
            throw SyscallError("mkdir", path: path, errno: error)
        }
    }

    /// Removes an empty directory; a missing one is fine.
    package static func removeDirectory(_ path: FilePath) throws(SyscallError) {
        switch valueOrErrno(retryOnInterrupt: false, { system_unlinkat(AT_FDCWD, path.string, AT_REMOVEDIR) }) {
        case .success, .failure(.noSuchFileOrDirectory): return
        case .failure(let error): throw SyscallError("rmdir", path: path, errno: error)
        }
    }

    /// Creates an empty regular file unless something exists at `path` already (which is never
    /// opened: a device node there stays untouched). The caller checks what is there.
    package static func makeFile(_ path: FilePath, mode: mode_t = 0o600) throws(SyscallError) {
        let fd: CInt
        do {
            fd = try open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        } catch {
            if error.errno == .fileExists { return }
            throw error
        }
        _ = system_close(fd)
    }

    /// Removes a file; a missing one is fine.
    package static func removeFile(_ path: FilePath) throws(SyscallError) {
        switch valueOrErrno(retryOnInterrupt: false, { system_unlinkat(AT_FDCWD, path.string, 0) }) {
        case .success, .failure(.noSuchFileOrDirectory): return
        case .failure(let error): throw SyscallError("unlink", path: path, errno: error)
        }
    }

    /// Replaces `path` atomically with `bytes`: a temp file in the same directory, written,
    /// fsync'd, renamed over `path`, then (with `durableRename`) the directory fsync'd. A crash
    /// at any point leaves either the old or the new content, never a mix; without the
    /// directory fsync a power loss may keep the old content (or no file, for a new one).
    package static func writeAtomically(
        _ path: FilePath, _ bytes: [UInt8], mode: mode_t = 0o600, durableRename: Bool = true
    ) throws(SyscallError) {
        let directory = path.removingLastComponent()
        let temp = directory.appending(".\(path.lastComponent?.string ?? "file").tmp-\(getpid())")
        let fd = try open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: mode)
        do throws(SyscallError) {
            var offset = 0
            while offset < bytes.count {
                offset += try valueOrErrno(retryOnInterrupt: true) {
                    bytes[offset...].withUnsafeBytes { system_write(fd, $0) }
                }
                .get("write", path: temp)
            }
            _ = try valueOrErrno(retryOnInterrupt: false) { system_fchmod(fd, mode) }.get("fchmod", path: temp)
            _ = try valueOrErrno(retryOnInterrupt: false) { system_fsync(fd) }.get("fsync", path: temp)
        } catch {
            _ = system_close(fd)
            try? removeFile(temp)
            throw error
        }
        _ = system_close(fd)
        let renamed = valueOrErrno(retryOnInterrupt: false) {
            system_renameat(AT_FDCWD, temp.string, AT_FDCWD, path.string)
        }
        if case .failure(let error) = renamed {
            try? removeFile(temp)
            throw SyscallError("rename", path: path, errno: error)
        }
        if durableRename { try syncDirectory(directory) }
    }

    /// fsync(2) of a directory, so that a rename or unlink in it is durable.
    package static func syncDirectory(_ directory: FilePath) throws(SyscallError) {
        let dfd = try open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        defer { _ = system_close(dfd) }
        _ = try valueOrErrno(retryOnInterrupt: false) { system_fsync(dfd) }.get("fsync", path: directory)
    }
}
