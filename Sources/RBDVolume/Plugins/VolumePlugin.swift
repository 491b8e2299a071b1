import Logging
import SystemPackage

/// Where a volume's data comes from; each plugin defines its own source type.
///
/// A second plugin (rbd-nbd, a loop-device plugin in tests, …) adds a type conforming to this
/// protocol and answers `canSupport` for it; the manager needs no change.
public protocol VolumeSource: Sendable, CustomStringConvertible {}

/// How a workload sees a volume.
public enum VolumeAccess: String, Sendable, Codable, Equatable {
    /// A filesystem: probed, formatted only when proven blank, mounted (CSI's mount access type).
    case filesystem
    /// The raw device: its node bind-mounted onto a file, never probed or formatted (CSI's
    /// block access type; Kubernetes' `volumeMode: Block`).
    case block
}

/// A volume as a workload asks for it.
public struct VolumeSpec: Sendable, CustomStringConvertible {
    /// The volume's name in the workload (the last component of its path under the pod).
    public var name: String
    /// The plugin-specific source (for rbd, an `RBDVolumeSource`).
    public var source: any VolumeSource
    /// The filesystem to create on a blank device and to mount (`ext4` by default).
    public var fsType: String
    /// Map and mount read-only; never format.
    public var readOnly: Bool
    /// Extra mount options for the global mount (`noatime`, `discard`, …).
    public var mountOptions: [String]
    /// Arguments added to mkfs's (after the defaults, before the device), each checked by
    /// BlockMount's `FilesystemFormatter.validateFormatOptions(_:)`.
    public var formatOptions: [String] = []
    /// Whether a device proven blank may be formatted; `false` (a CSI static volume, whose
    /// data comes from elsewhere) refuses a blank device instead.
    public var mayFormat: Bool = true
    /// A filesystem (by default), or the raw device: then `fsType`, `mountOptions`,
    /// `formatOptions` and `mayFormat` do not apply, and the device's node is bound onto the
    /// file ``BlockVolumePlugin/blockFileName`` in the mount path.
    public var access: VolumeAccess = .filesystem

    /// Creates a spec.
    public init(
        name: String, source: any VolumeSource, fsType: String = "ext4", readOnly: Bool = false,
        mountOptions: [String] = []
    ) {
        self.name = name
        self.source = source
        self.fsType = fsType
        self.readOnly = readOnly
        self.mountOptions = mountOptions
    }

    /// `name (source)`, with `, read-only` and `, block` when they apply.
    public var description: String {
        "\(name) (\(source)\(readOnly ? ", read-only" : "")\(access == .block ? ", block" : ""))"
    }
}

/// The node a plugin works on: its root directory and the pseudo-filesystem roots.
public struct VolumeHost: Sendable {
    /// The node agent's root (`/var/lib/kubelet` for Kubernetes).
    public var rootDirectory: FilePath
    /// The proc filesystem (mount table).
    public var proc: FilePath
    /// Where operations log their phases and timings (level `debug`: the results carry the
    /// same timings, and a log line costs more than a syscall); secrets never reach it.
    public var logger: Logger

    /// Creates a host description; the defaults are a Kubernetes node's.
    public init(
        rootDirectory: FilePath = "/var/lib/kubelet", proc: FilePath = "/proc",
        logger: Logger = Logger(label: "krbd.volume")
    ) {
        self.rootDirectory = rootDirectory
        self.proc = proc
        self.logger = logger
    }

    /// `<root>/plugins/<plugin name>` (a qualified name's `/` makes a subdirectory).
    public func pluginDirectory(_ pluginName: String) -> FilePath {
        rootDirectory.appending("plugins").appending(pluginName)
    }

    /// `<root>/pods/<uid>/volumes/<plugin name with / as ~>/<volume>`.
    public func podVolumeDirectory(podUID: String, pluginName: String, volumeName: String) -> FilePath {
        rootDirectory.appending("pods").appending(podUID).appending("volumes")
            .appending(pluginName.replacingAll("/", with: "~")).appending(volumeName)
    }
}

/// A volume plugin as the manager knows it.
public protocol VolumePlugin: AnyObject, Sendable {
    /// The plugin's qualified name (`kubernetes.io/rbd`).
    var name: String { get }
    /// Prepares the plugin on `host`; an error keeps the plugin unregistered.
    func initialize(host: VolumeHost) throws
    /// Whether this plugin handles `spec`.
    func canSupport(_ spec: VolumeSpec) -> Bool
}

extension String {
    func replacingAll(_ old: Character, with new: Character) -> String {
        String(map { $0 == old ? new : $0 })
    }
}
