// The one public error of the KRBD module: a code to branch on, a message for people, the file the
// operation was about, and the failed system call (call, path, errno) as a typed cause.
import LinuxSystem
import SystemPackage

/// A failed system call (its C name, the path it worked on, the `Errno` it set): the ``RBDError/cause``
/// of an ``RBDError``, and the same type as BlockMount's and RBDVolume's `SystemCallError`.
public typealias SystemCallError = LinuxSystem.SyscallError

/// Every failure of the KRBD module.
///
/// Branch on ``code``; show ``message`` (it names the image, device or path, the likely cause
/// and a fix). ``path`` is the file or directory the operation was about; ``cause`` is the
/// failed system call underneath, if any (``errno`` and ``syscall`` read it).
/// No message ever contains a Ceph secret.
public struct RBDError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as an extensible set of named codes.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's name (camelCase, as the static member).
        public var rawValue: String
        /// A code by name; prefer the static members.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// A pool, namespace, image or snapshot name the kernel cannot take (refused before any write).
        public static let invalidSpec = Code(rawValue: "invalidSpec")
        /// A map option that is unknown, malformed, out of range, or too new for the running kernel;
        /// also the kernel's EINVAL for a request it could not parse.
        public static let invalidOption = Code(rawValue: "invalidOption")
        /// A monitor address that cannot be used (hostname, bad syntax, no address for the ms_mode).
        public static let invalidMonitor = Code(rawValue: "invalidMonitor")
        /// A user name, secret, keyring or key file that cannot be used.
        public static let invalidCredentials = Code(rawValue: "invalidCredentials")
        /// ceph.conf or another configuration file cannot be read or used.
        public static let invalidConfiguration = Code(rawValue: "invalidConfiguration")
        /// The rbd module is not loaded and cannot be loaded.
        public static let moduleUnavailable = Code(rawValue: "moduleUnavailable")
        /// The kernel refused for lack of privilege (CAP_SYS_ADMIN in the initial user namespace).
        public static let permissionDenied = Code(rawValue: "permissionDenied")
        /// The kernel keyring cannot take the secret (add_key blocked, or the key was not found).
        public static let keyringUnavailable = Code(rawValue: "keyringUnavailable")
        /// The pool, namespace, image or snapshot does not exist (ENOENT).
        public static let notFound = Code(rawValue: "notFound")
        /// The image uses features the kernel lacks (ENXIO).
        public static let unsupportedFeatures = Code(rawValue: "unsupportedFeatures")
        /// The image's exclusive lock is held by a peer that will not release it (EROFS), or by a
        /// foreign locker (EBUSY).
        public static let lockHeld = Code(rawValue: "lockHeld")
        /// The monitors rejected the user or key (EACCES/EPERM during authentication). For a
        /// read-write map of an exclusive-lock image, EACCES may also mean that breaking a dead
        /// owner's lock needs a blocklist the user's mon caps deny: the kernel answers both with
        /// the same errno, so they share this code, and the message names both.
        public static let authenticationFailed = Code(rawValue: "authenticationFailed")
        /// This kernel client is blocklisted by the cluster (ESHUTDOWN).
        public static let clientBlocklisted = Code(rawValue: "clientBlocklisted")
        /// No monitor session or maps within mount_timeout (ETIMEDOUT), or the image's map lock timed out.
        public static let timedOut = Code(rawValue: "timedOut")
        /// The device is open, mounted or held (EBUSY on unmap).
        public static let busy = Code(rawValue: "busy")
        /// The image is already mapped and the policy is `.fail`.
        public static let alreadyMapped = Code(rawValue: "alreadyMapped")
        /// The device the kernel created does not carry the identity that was asked for.
        public static let identityMismatch = Code(rawValue: "identityMismatch")
        /// `/dev/rbd<id>` is missing and cannot be created, or is not the device it should be.
        public static let deviceNodeMissing = Code(rawValue: "deviceNodeMissing")
        /// A signal interrupted the kernel while it waited (EINTR).
        public static let interrupted = Code(rawValue: "interrupted")
        /// Any other failure of the kernel or of a system call.
        public static let systemError = Code(rawValue: "systemError")
    }

    /// What went wrong.
    public var code: Code
    /// One sentence or two for people: what, where, likely cause, fix.
    public var message: String
    /// The file or directory the failed operation was about (a device node, ceph.conf, a keyring,
    /// the image's lock file, the rbd bus), if any. The path the failed call itself worked on is
    /// `cause?.path`.
    public var path: FilePath?
    /// The failed system call underneath, if one failed.
    public var cause: SystemCallError?
    /// The kernel accepted a map request, and its mapping may still exist: it could not be
    /// found, told apart, or removed again (the message says which). A caller that records its
    /// mappings must keep a record that says "a mapping may exist" (attach keeps its
    /// `attaching` journal record), never forget it.
    public var mayHaveLeftMapping = false

    /// The errno of the failed call underneath, if a call failed (`cause?.errno`).
    public var errno: Errno? { cause?.errno }
    /// The C name of the failed call (`write`, `add_key`, `open`, …; `cause?.syscall`).
    public var syscall: String? { cause?.syscall }

    /// An error with its code, message, the file the operation was about, and the failed call if any.
    public init(_ code: Code, _ message: String, path: FilePath? = nil, cause: SystemCallError? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.cause = cause
    }

    /// An error from the parts of a failed call; `path` becomes both ``path`` and the cause's path.
    @available(*, deprecated, message: "pass the failed call as cause: SystemCallError(syscall, path:, errno:)")
    public init(_ code: Code, _ message: String, errno: Errno?, syscall: String? = nil, path: FilePath? = nil) {
        let cause = errno.map { SystemCallError(syscall ?? "call", path: path, errno: $0) }
        self.init(code, message, path: path, cause: cause)
    }

    /// The message, with the failed system call after it in brackets.
    public var description: String {
        guard let cause else { return message }
        return "\(message) [\(cause)]"
    }
}
