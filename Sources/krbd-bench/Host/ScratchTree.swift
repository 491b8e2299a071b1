// Building and removing big scratch trees with bare syscalls (fast, and no Foundation).
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A scratch directory of the benchmark, removed by `remove()`.
struct ScratchTree {
    let root: FilePath

    /// Creates `<parent>/krbd-bench-<pid>-<label>` (mode 0755).
    init(in parent: FilePath, label: String) throws {
        root = parent.appending("krbd-bench-\(getpid())-\(label)")
        if Files.exists(root) { try runTool(["rm", "-rf", root.string]) }
        try Files.makeDirectories(root, mode: 0o755)
    }

    /// `rm -rf` of the tree (never timed).
    func remove() {
        _ = try? runTool(["rm", "-rf", root.string])
    }
}

/// Opens a directory for the *at calls.
func openDirectory(_ path: String) throws -> CInt {
    let fd = system_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd < 0 { throw BenchError("cannot open \(path): \(Errno.current)") }
    return fd
}

/// mkdirat(2), insisting on success.
func makeDirectory(_ dirfd: CInt, _ name: String, mode: mode_t = 0o755) throws {
    if system_mkdirat(dirfd, name, mode) != 0 { throw BenchError("mkdir \(name): \(Errno.current)") }
}

/// Creates `name` in `dirfd` holding `contents`, with `mode`.
func writeFile(_ dirfd: CInt, _ name: String, _ contents: [UInt8], mode: mode_t = 0o644) throws {
    let fd = system_openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    if fd < 0 { throw BenchError("create \(name): \(Errno.current)") }
    defer { _ = system_close(fd) }
    if !contents.isEmpty, contents.withUnsafeBytes({ system_write(fd, $0) }) != contents.count {
        throw BenchError("write \(name): \(Errno.current)")
    }
}
