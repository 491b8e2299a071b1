// Cross-process exclusive locks on lock files (flock(2)), waited for under a deadline.
import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Cross-process mutual exclusion through `flock(2)` on a lock file.
package enum FileLock {
    /// Runs `body` while holding an exclusive `flock` on `path` (created 0600 if missing).
    ///
    /// Waits for the lock by polling `LOCK_EX|LOCK_NB` until `timeout` runs out, then throws
    /// `SyscallError("flock", errno: .timedOut)`. The lock is released when `body` returns or
    /// throws, or when the process dies (the kernel drops it with the fd).
    package static func withLock<R>(
        _ path: FilePath, timeout: Duration, _ body: () throws -> R
    ) throws -> R {
        let fd = try Files.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        defer { _ = system_close(fd) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pause = 1_000  // microseconds, doubled up to 20 ms
        while system_flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = Errno.current
            guard error == .wouldBlock || error == .interrupted else {
                throw SyscallError("flock", path: path, errno: error)
            }
            if clock.now >= deadline { throw SyscallError("flock", path: path, errno: .timedOut) }
            usleep(useconds_t(pause))
            pause = min(pause * 2, 20_000)
        }
        defer { _ = system_flock(fd, LOCK_UN) }
        return try body()
    }
}
