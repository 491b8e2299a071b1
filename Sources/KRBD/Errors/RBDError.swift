// The one public error of the KRBD module: a code to branch on, a message for people, and the
// failed system call (errno, call, path) when there was one.
import LinuxSystem
import SystemPackage

/// Every failure of the KRBD module.
///
/// Branch on ``code``; show ``message`` (it names the image, device or path, the likely cause
/// and a fix). ``errno``, ``syscall`` and ``path`` carry the underlying failed call, if any.
/// No message ever contains a Ceph secret.
public struct RBDError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as an extensible set of named codes.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        /// A code by name; prefer the static members.
        public init(rawValue: String) { self.rawValue = rawValue }
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
        /// The monitors rejected the user or key (EACCES/EPERM during authentication).
        public static let authenticationFailed = Code(rawValue: "authenticationFailed")
        /// Breaking a dead owner's lock needs a blocklist the user's mon caps deny (EACCES).
        public static let blocklistDenied = Code(rawValue: "blocklistDenied")
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
    /// The errno of the failed call, if a call failed.
    public var errno: Errno?
    /// The C name of the failed call (`write`, `add_key`, `open`, …).
    public var syscall: String?
    /// The path the failed call worked on.
    public var path: FilePath?
    /// The kernel accepted a map request, and its mapping may still exist: it could not be
    /// found, told apart, or removed again (the message says which). A caller that records its
    /// mappings must keep a record that says "a mapping may exist" (attach keeps its
    /// `attaching` journal record), never forget it.
    public var mayHaveLeftMapping = false

    /// An error with its code, message, and the failed call if any.
    public init(_ code: Code, _ message: String, errno: Errno? = nil, syscall: String? = nil, path: FilePath? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
        self.syscall = syscall
        self.path = path
    }

    init(_ code: Code, _ message: String, cause: SyscallError) {
        self.init(code, message, errno: cause.errno, syscall: cause.syscall, path: cause.path)
    }

    public var description: String {
        guard let errno else { return message }
        let on = path.map { " \($0)" } ?? ""
        return "\(message) [\(syscall ?? "call")\(on): \(errno) (errno \(errno.rawValue))]"
    }
}
