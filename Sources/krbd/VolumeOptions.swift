// Flags the volume lifecycle commands (attach, setup, teardown, detach) share.
import ArgumentParser
import KRBD
import Logging
import RBDVolume
import SystemPackage

struct VolumeOptions: ParsableArguments {
    @Argument(help: "[pool/[namespace/]]image[@snapshot]")
    var spec: String

    @Option(
        name: .customLong("root"), help: "The node agent's root directory (global and workload paths live under it).")
    var root: String = "/var/lib/kubelet"

    @Option(name: .customLong("fs-type"), help: "Filesystem to make on a blank image and to mount.")
    var fsType: String = "ext4"

    @Flag(name: .customLong("read-only"), help: "Attach read-only: map ro, mount ro, never format.")
    var readOnly = false

    @Option(name: .customLong("mount-options"), help: "Mount options for the global mount (noatime,discard,…).")
    var mountOptions: String?

    @Option(name: .short, help: "Map options, comma-separated (as rbd device map -o).")
    var options: String?

    @Option(help: "Fencing for read-write attaches: exclusiveLock, requireExclusiveLock or none.")
    var fencing: String = Fencing.exclusiveLock.rawValue

    @Option(name: .customLong("proc"), help: .hidden)
    var proc: String = "/proc"

    @Flag(name: .shortAndLong, help: "Log each phase on stderr.")
    var verbose = false

    /// The volume as the library takes it; credentials are resolved only where a map may happen.
    func volume(connection: ConnectionOptions, needsCredentials: Bool) throws -> VolumeSpec {
        let image = try ImageSpec(parsing: spec)
        var mapOptions = MapOptions()
        if let options { try mapOptions.apply(options) }
        guard let fencing = Fencing(rawValue: fencing) else {
            throw ValidationError("--fencing must be exclusiveLock, requireExclusiveLock or none")
        }
        let credentials =
            needsCredentials
            ? try connection.resolveCredentials() : try CephCredentials(user: connection.user, secret: nil)
        let monitors = needsCredentials ? try connection.resolveMonitors() : []
        let source = RBDVolumeSource(
            image: image, monitors: monitors, credentials: credentials, options: mapOptions, fencing: fencing)
        return VolumeSpec(
            name: image.image, source: source, fsType: fsType, readOnly: readOnly,
            mountOptions: mountOptions.map { [$0] } ?? [])  // checked whole (quotes may hold commas)
    }

    /// The rbd plugin, registered through the manager on this node root.
    func plugin(roots: RootOptions) throws -> RBDPlugin {
        bootstrapLogging(verbose: verbose)
        let plugin = RBDPlugin(bus: roots.bus, logger: Logger(label: "krbd"))
        try VolumePluginManager().initPlugins(
            [plugin],
            host: VolumeHost(rootDirectory: FilePath(root), proc: FilePath(proc), logger: Logger(label: "krbd")))
        return plugin
    }
}

/// Workload flags of setup and teardown.
struct WorkloadOptions: ParsableArguments {
    @Option(name: .customLong("pod"), help: "The workload's (pod's) UID.")
    var podUID: String

    @Option(name: .customLong("volume"), help: "The volume's name in the workload (default: the image name).")
    var volumeName: String?
}

/// Logs to stderr: warnings always, every phase with --verbose.
func bootstrapLogging(verbose: Bool) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = verbose ? .debug : .warning
        return handler
    }
}
