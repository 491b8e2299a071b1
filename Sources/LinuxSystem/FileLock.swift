// Cross-process exclusive locks on lock files (flock(2)), waited for under a deadline.
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// Why `FileLock.withLock` failed: the lock could not be taken (`flock` with `.timedOut` when
/// the deadline passed; `open`/`mkdir` otherwise), or the body threw.
package enum LockFailure<BodyError: Error>: Error {
    /// Taking the lock failed.
    case lock(SyscallError)
    /// The body ran, under the lock, and threw.
    case body(BodyError)
}

/// Cross-process mutual exclusion through `flock(2)` on a lock file.
package enum FileLock {
    /// Runs `body` while holding an exclusive `flock` on `path` (created 0600 if missing).
    ///
    /// Waits for the lock by polling `LOCK_EX|LOCK_NB` until `timeout` runs out, then fails
    /// with `.lock(SyscallError("flock", errno: .timedOut))`. The lock is released when `body`
    /// returns or throws, or when the process dies (the kernel drops it with the fd).
    ///
    /// `directoryMode`: when the lock file's directory does not exist, it is made (with this
    /// mode) and the open retried — not stat'ed on every lock.
    ///
    /// `removingFile`: the lock file is unlinked before the lock is released, so that per-object
    /// lock files (one per volume) do not pile up. A waiter may then hold the lock of an inode
    /// that is no longer at `path`; after each acquisition the fd's inode is compared with the
    /// path's, and the lock is taken again on the current file when they differ: at most one
    /// holder at a time, whatever the interleaving.
    package static func withLock<R, E: Error>(
        _ path: FilePath, timeout: Duration, removingFile: Bool = false, directoryMode: mode_t? = nil,
        _ body: () throws(E) -> R
    ) throws(LockFailure<E>) -> R {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let fd: CInt
            do throws(SyscallError) {
                fd = try openLockFile(path, directoryMode: directoryMode)
            } catch {
                throw .lock(error)
            }
            var pause: UInt32 = 1_000  // microseconds, doubled up to 20 ms
            // EINTR is not retried at once: it waits its pause, as EWOULDBLOCK does, under the deadline.
            while let error = valueOrErrno(retryOnInterrupt: false, { system_flock(fd, LOCK_EX | LOCK_NB) }).errno {
                guard error == .wouldBlock || error == .interrupted else {
                    _ = system_close(fd)
                    throw .lock(SyscallError("flock", path: path, errno: error))
                }
                if clock.now >= deadline {
                    _ = system_close(fd)
                    throw .lock(SyscallError("flock", path: path, errno: .timedOut))
                }
                system_usleep(pause)
                pause = min(pause * 2, 20_000)
            }
            if removingFile && !isCurrent(fd, path) {
                _ = system_close(fd)  // the previous holder removed this inode: lock the new file
                continue
            }
            defer {
                if removingFile { _ = try? Files.removeFile(path) }  // while still holding the lock
                _ = system_flock(fd, LOCK_UN)
                _ = system_close(fd)
            }
            do throws(E) {
                return try body()
            } catch {
                throw .body(error)
            }
        }
    }

    private static func openLockFile(_ path: FilePath, directoryMode: mode_t?) throws(SyscallError) -> CInt {
        do {
            return try Files.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        } catch let error where error.errno == .noSuchFileOrDirectory && directoryMode != nil {
            try Files.makeDirectories(path.removingLastComponent(), mode: directoryMode!)
            return try Files.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        }
    }

    /// Whether `fd` is the file now at `path` (same device and inode).
    private static func isCurrent(_ fd: CInt, _ path: FilePath) -> Bool {
        var held = stat()
        guard system_fstat(fd, &held) == 0, let now = try? Files.status(path) else { return false }
        return held.st_dev == now.st_dev && held.st_ino == now.st_ino
    }
}
