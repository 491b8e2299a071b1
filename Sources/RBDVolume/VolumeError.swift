import BlockMount
import KRBD
import LinuxSystem
import SystemPackage

/// A failed system call (its C name, the path it worked on, the `Errno` it set), as in
/// ``VolumeError/Cause/system(_:)``; the same type as KRBD's and BlockMount's `SystemCallError`.
public typealias SystemCallError = LinuxSystem.SyscallError

/// The one error type of `RBDVolume`: what failed (``code``), on which volume or path (``path``),
/// why (``message``), and the typed error underneath (``cause``).
public struct VolumeError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's name (camelCase, as the static member).
        public var rawValue: String
        /// A code by name; prefer the static members.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// A plugin name is not a Kubernetes qualified name.
        public static let invalidPluginName = Code(rawValue: "invalidPluginName")
        /// Two plugins were registered under one name.
        public static let duplicatePlugin = Code(rawValue: "duplicatePlugin")
        /// One or more plugins failed to initialize; `failures` lists each.
        public static let pluginInitFailed = Code(rawValue: "pluginInitFailed")
        /// No registered plugin supports the volume.
        public static let noPlugin = Code(rawValue: "noPlugin")
        /// More than one registered plugin supports the volume.
        public static let ambiguousPlugin = Code(rawValue: "ambiguousPlugin")
        /// A volume name, pod UID or other path component is unusable.
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// `setUp` was asked for a volume whose global mount is missing.
        public static let notAttached = Code(rawValue: "notAttached")
        /// `detach` was refused: workloads still use the volume.
        public static let inUse = Code(rawValue: "inUse")
        /// Another operation on the volume held its lock past the deadline.
        public static let lockTimeout = Code(rawValue: "lockTimeout")
        /// The device is blank (or holds data without a signature) and the volume may not be
        /// formatted (``VolumeSpec/mayFormat``): nothing was written to it.
        public static let refusedFormat = Code(rawValue: "refusedFormat")
        /// A path the caller named does not exist.
        public static let notFound = Code(rawValue: "notFound")
        /// The caller cancelled an async operation while it waited for its turn on the volume
        /// (nothing was done).
        public static let cancelled = Code(rawValue: "cancelled")
        /// The attachment journal could not be read or written.
        public static let journal = Code(rawValue: "journal")
        /// The device layer (map/unmap, loop, …) failed; ``cause`` has its error.
        public static let device = Code(rawValue: "device")
        /// The mount layer (probe, mkfs, mount, bind, ownership) failed; ``cause`` has its error.
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
        /// `<plugin>: <reason>`.
        public var description: String { "\(plugin): \(reason)" }
    }

    /// What a ``VolumeError`` was caused by: the typed error of the layer below.
    public enum Cause: Sendable, CustomStringConvertible {
        /// The rbd bus failed (map, unmap, lookup): KRBD's error.
        case rbd(RBDError)
        /// Probe, mkfs, mount, bind, unmount, ownership or resize failed: BlockMount's error.
        case mount(MountError)
        /// One of the lifecycle's own file operations failed (journal, directories, locks, statvfs).
        case system(SystemCallError)
        /// Another ``BlockDeviceProvider``'s error, of a type this module does not know (the
        /// default ``DeviceProviderFailure/volumeCause`` of a provider's failure).
        case other(any Error & Sendable)

        /// The error itself, untyped.
        public var error: any Error & Sendable {
            switch self {
            case .rbd(let error): error
            case .mount(let error): error
            case .system(let error): error
            case .other(let error): error
            }
        }

        /// The failed system call at the bottom, at whichever layer it failed.
        public var systemCall: SystemCallError? {
            switch self {
            case .rbd(let error): error.cause
            case .mount(let error): error.cause
            case .system(let error): error
            case .other(let error): error as? SystemCallError
            }
        }

        /// The error's own description.
        public var description: String { "\(error)" }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence naming the volume/path, the likely cause and the fix. A failed system call of
    /// the lifecycle's own is not in it (``description`` adds it); an error of the layer below is
    /// named in words, and kept whole in ``cause``.
    public var message: String
    /// The file or directory the failed operation was about (a volume's global or workload path,
    /// a device, the journal), if any. The path the failed call itself worked on is
    /// `cause?.systemCall?.path`.
    public var path: FilePath?
    /// Per-plugin failures, for `pluginInitFailed`.
    public var failures: [PluginFailure]
    /// The error underneath, typed: `.rbd` for `.device` failures of the rbd provider, `.mount`
    /// for `.mount` (and some `.invalidArgument`) failures, `.system` for `.journal` and `.io`.
    public var cause: Cause?

    /// The errno of the failed system call underneath, at whichever layer it failed, if any.
    public var errno: Errno? { cause?.systemCall?.errno }
    /// The C name of the failed system call underneath, if any.
    public var syscall: String? { cause?.systemCall?.syscall }

    /// An error with its code, message, the path it was about, and what caused it.
    public init(
        _ code: Code, _ message: String, path: FilePath? = nil, failures: [PluginFailure] = [], cause: Cause? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.failures = failures
        self.cause = cause
    }

    /// An error of one of the lifecycle's own file operations: about the path the call worked
    /// on unless `path` says otherwise.
    init(_ code: Code, _ message: String, path: FilePath? = nil, cause: SystemCallError) {
        self.init(code, message, path: path ?? cause.path, cause: .system(cause))
    }

    /// The message, and a failed system call of the lifecycle's own after it.
    public var description: String {
        guard case .system(let call) = cause else { return message }
        return "\(message): \(call)"
    }
}
