import SystemPackage

/// A failed system call: which call, on which path, and the `Errno` it set.
///
/// Every module turns this into its own public error (`RBDError`, `MountError`,
/// `VolumeError`) with a message that names the cause; this value is kept as the cause.
package struct SyscallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C name of the call (`write`, `mount`, `add_key`, …).
    package var syscall: String
    /// The path the call worked on, where there is one.
    package var path: FilePath?
    /// The error number the call set.
    package var errno: Errno

    package init(_ syscall: String, path: FilePath? = nil, errno: Errno) {
        self.syscall = syscall
        self.path = path
        self.errno = errno
    }

    package var description: String {
        let on = path.map { " \($0)" } ?? ""
        return "\(syscall)\(on): \(errno) (errno \(errno.rawValue))"
    }
}

extension Errno {
    /// The thread's current `errno`, read right after a failed call.
    package static var current: Errno { Errno(rawValue: system_errno()) }
}
