import LinuxSystem
import SystemPackage

/// A failed system call (its C name, the path it worked on, the `Errno` it set): the ``MountError/cause``
/// of a ``MountError``, and the same type as KRBD's and RBDVolume's `SystemCallError`.
public typealias SystemCallError = LinuxSystem.SyscallError

/// The one error of the BlockMount module: what failed (``code``), the likely cause and fix
/// (``message``), the device or path the operation was about (``path``), and the failed system
/// call underneath (``cause``), if any.
///
/// Mount data strings are never copied into an error: they may carry secrets in other uses.
public struct MountError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: compare with the static members.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's name (camelCase, as the static member).
        public var rawValue: String
        /// A code by name; prefer the static members.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// The path is not a block device (or image file) that can be probed or mounted.
        public static let notBlockDevice = Code(rawValue: "notBlockDevice")
        /// The device could not be opened, read or probed; it was NOT taken for blank.
        public static let probeFailed = Code(rawValue: "probeFailed")
        /// The device carries a partition table; it is neither formatted nor mounted.
        public static let partitioned = Code(rawValue: "partitioned")
        /// The device carries data libblkid cannot name (or several signatures); never formatted.
        public static let unknownData = Code(rawValue: "unknownData")
        /// mkfs failed, timed out, or left no filesystem of the requested type.
        public static let formatFailed = Code(rawValue: "formatFailed")
        /// The device is blank but was asked for read-only: there is nothing to mount.
        public static let readOnlyBlank = Code(rawValue: "readOnlyBlank")
        /// An option string could not be parsed.
        public static let invalidOptions = Code(rawValue: "invalidOptions")
        /// mount(2) (or the new mount API) refused.
        public static let mountFailed = Code(rawValue: "mountFailed")
        /// The target already has something else mounted on it.
        public static let targetInUse = Code(rawValue: "targetInUse")
        /// umount2(2) said EBUSY; `holders` names what keeps it busy.
        public static let busy = Code(rawValue: "busy")
        /// umount2(2) failed for another reason.
        public static let unmountFailed = Code(rawValue: "unmountFailed")
        /// stat of a mount point fails with ENOTCONN, ESTALE, EIO, ENODEV or EACCES.
        public static let corruptedMount = Code(rawValue: "corruptedMount")
        /// A bind mount did not come out as asked (not mounted, or writable where ro was asked).
        public static let bindVerificationFailed = Code(rawValue: "bindVerificationFailed")
        /// The mount table could not be read or parsed.
        public static let mountTableUnreadable = Code(rawValue: "mountTableUnreadable")
        /// Changing group ownership or mode of a volume failed.
        public static let ownershipFailed = Code(rawValue: "ownershipFailed")
        /// A directory could not be created or removed.
        public static let directoryFailed = Code(rawValue: "directoryFailed")
        /// The resize tool (resize2fs, xfs_growfs) failed or is missing, or the filesystem
        /// type cannot be grown online.
        public static let resizeFailed = Code(rawValue: "resizeFailed")
    }

    /// What keeps a mount busy.
    public enum Holder: Sendable, Hashable, CustomStringConvertible {
        /// Another mount below the target.
        case mount(FilePath)
        /// A process whose working directory, root or an open file is under the target.
        case process(pid: Int32, command: String, path: FilePath)

        /// The holder in words (`mount at …`, `pid … (command) …`).
        public var description: String {
            switch self {
            case .mount(let path): "mount at \(path)"
            case .process(let pid, let command, let path): "pid \(pid) (\(command)) holds \(path)"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, on which device or path, the likely cause and the fix.
    public var message: String
    /// The file or directory the failed operation was about (the device, mount target or
    /// directory), if any. The path the failed call itself worked on is `cause?.path`.
    public var path: FilePath?
    /// For `.busy`: what holds the mount (other mounts under it, processes using it).
    public var holders: [Holder]
    /// The failed system call underneath, if one failed.
    public var cause: SystemCallError?

    /// The `Errno` of the failed call underneath, if any (`cause?.errno`).
    public var errno: Errno? { cause?.errno }
    /// The name of the failed call underneath (`mount`, `umount2`, `open`, …; `cause?.syscall`), if any.
    public var syscall: String? { cause?.syscall }
    /// The path the failed call itself worked on, if any (`cause?.path`).
    public var syscallPath: FilePath? { cause?.path }

    /// An error with its code, message, the path the operation was about, the failed call and,
    /// for `.busy`, what holds the mount.
    public init(
        _ code: Code, _ message: String, path: FilePath? = nil, cause: SystemCallError? = nil, holders: [Holder] = []
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.cause = cause
        self.holders = holders
    }

    /// `<code>: <message>`, with the failed system call and the holders after it.
    public var description: String {
        var text = "\(code): \(message)"
        if !holders.isEmpty { text += " [held by: \(holders.map(\.description).joined(separator: "; "))]" }
        if let cause { text += " (\(cause))" }
        return text
    }
}
