import LinuxSystem
import SystemPackage

/// The one error type of `RBDVolume`: what failed, on which volume or path, why, and the cause.
public struct VolumeError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        /// A code by name; prefer the static members.
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A plugin name is not a Kubernetes qualified name.
        public static let invalidPluginName = Code(rawValue: "invalid-plugin-name")
        /// Two plugins were registered under one name.
        public static let duplicatePlugin = Code(rawValue: "duplicate-plugin")
        /// One or more plugins failed to initialize; `failures` lists each.
        public static let pluginInitFailed = Code(rawValue: "plugin-init-failed")
        /// No registered plugin supports the volume.
        public static let noPlugin = Code(rawValue: "no-plugin")
        /// More than one registered plugin supports the volume.
        public static let ambiguousPlugin = Code(rawValue: "ambiguous-plugin")
        /// A volume name, pod UID or other path component is unusable.
        public static let invalidArgument = Code(rawValue: "invalid-argument")
        /// `setUp` was asked for a volume whose global mount is missing.
        public static let notAttached = Code(rawValue: "not-attached")
        /// `detach` was refused: workloads still use the volume.
        public static let inUse = Code(rawValue: "in-use")
        /// Another operation on the volume held its lock past the deadline.
        public static let lockTimeout = Code(rawValue: "lock-timeout")
        /// The device is blank (or holds data without a signature) and the volume may not be
        /// formatted (``VolumeSpec/mayFormat``): nothing was written to it.
        public static let refusedFormat = Code(rawValue: "refused-format")
        /// A path the caller named does not exist.
        public static let notFound = Code(rawValue: "not-found")
        /// The caller cancelled an async operation while it waited for its turn on the volume
        /// (nothing was done).
        public static let cancelled = Code(rawValue: "cancelled")
        /// The attachment journal could not be read or written.
        public static let journal = Code(rawValue: "journal")
        /// The device layer (map/unmap, loop, …) failed; `underlying` has its error.
        public static let device = Code(rawValue: "device")
        /// The mount layer (probe, mkfs, mount, bind, ownership) failed; `underlying` has its error.
        public static let mount = Code(rawValue: "mount")
        /// A file system operation on the node's directories failed.
        public static let io = Code(rawValue: "io")
    }

    /// One plugin's failure inside an aggregate (`pluginInitFailed`).
    public struct PluginFailure: Sendable, CustomStringConvertible {
        /// The plugin's name as registered.
        public var plugin: String
        /// Which rule or step failed.
        public var code: Code
        /// Why.
        public var reason: String
        public var description: String { "\(plugin): \(reason)" }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence naming the volume/path, the likely cause and the fix.
    public var message: String
    /// The path involved, if any.
    public var path: FilePath?
    /// Per-plugin failures, for `pluginInitFailed`.
    public var failures: [PluginFailure]
    /// The error of the layer below (`RBDError`, `MountError`), if any.
    public var underlying: (any Error & Sendable)?
    /// The errno and call, for failures of our own file operations.
    public var errno: Errno?
    /// The system call that failed, if any.
    public var syscall: String?

    /// An error with its code, message, and what caused it.
    public init(
        _ code: Code, _ message: String, path: FilePath? = nil, failures: [PluginFailure] = [],
        underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.failures = failures
        self.underlying = underlying
    }

    init(_ code: Code, _ message: String, cause: SyscallError) {
        self.init(code, "\(message): \(cause)", path: cause.path)
        errno = cause.errno
        syscall = cause.syscall
    }

    public var description: String { message }
}
