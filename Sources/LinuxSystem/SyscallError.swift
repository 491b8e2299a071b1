import SystemPackage

/// A failed system call: which call, on which path, and the `Errno` it set.
///
/// Every module turns this into its own public error (`RBDError`, `MountError`,
/// `VolumeError`) with a message that names the cause; this value is kept as that error's
/// `cause`. It is public so library users can read it; KRBD, BlockMount and RBDVolume each
/// name it `SystemCallError`, because LinuxSystem is not a product that can be imported.
public struct SyscallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C name of the call (`write`, `mount`, `add_key`, …).
    public var syscall: String
    /// The path the call itself worked on, where there is one (for a call on a descriptor, the
    /// path the descriptor was opened with).
    public var path: FilePath?
    /// The error number the call set.
    public var errno: Errno

    /// A failed call by name, with the path it worked on and the `Errno` it set.
    public init(_ syscall: String, path: FilePath? = nil, errno: Errno) {
        self.syscall = syscall
        self.path = path
        self.errno = errno
    }

    /// `syscall path: error (errno N)`.
    public var description: String {
        let on = path.map { " \($0)" } ?? ""
        return "\(syscall)\(on): \(errno) (errno \(errno.rawValue))"
    }
}

extension Errno {
    /// The thread's current `errno`, read right after a failed call.
    package static var current: Errno { Errno(rawValue: system_errno()) }
}
