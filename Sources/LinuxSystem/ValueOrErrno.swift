// The one step from a wrapper's raw result to a typed error, in the spirit of swift-system's
// `valueOrErrno(retryOnInterrupt:_:)`: a negative result becomes the `Errno` the call set, read
// at once, and every call site states what EINTR does (no default: a sysfs control write must
// never be retried blindly, the kernel may have acted on it).
import SystemPackage

/// Makes `call` (a `system_*` wrapper that returns -1 and sets `errno` on failure) and returns
/// its result, or the `Errno` it set when the result is negative.
///
/// - Parameters:
///   - retryOnInterrupt: `true` makes the call again while it fails with EINTR (opens, reads,
///     waits: nothing happened yet); `false` returns `.interrupted` like any other errno (a
///     control write, a mount: the kernel may have acted, or the caller has its own loop).
///   - call: the call; made again on EINTR when asked, so it must be safe to repeat.
@inline(__always)
package func valueOrErrno<Value: FixedWidthInteger>(
    retryOnInterrupt: Bool, _ call: () -> Value
) -> Result<Value, Errno> {
    while true {
        let value = call()
        if value >= 0 { return .success(value) }
        let error = Errno.current
        if !(retryOnInterrupt && error == .interrupted) { return .failure(error) }
    }
}

extension Result where Failure == Errno {
    /// The value, or a `SyscallError` for `syscall` on `path` with the errno.
    @inline(__always)
    package func get(_ syscall: String, path: @autoclosure () -> FilePath? = nil) throws(SyscallError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let errno): throw SyscallError(syscall, path: path(), errno: errno)
        }
    }

    /// The errno of a failure; `nil` on success.
    package var errno: Errno? {
        if case .failure(let errno) = self { return errno }
        return nil
    }
}
