import ArgumentParser
import RBDVolume

struct SetUpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Bind-mount an attached volume into a workload's volume path.",
        discussion: """
            The path is <root>/pods/<pod>/volumes/kubernetes.io~rbd/<volume>. --read-only binds with \
            MS_BIND|MS_REMOUNT|MS_RDONLY (verified); --fs-group gives the tree to that group unless read-only.
            """)

    @OptionGroup var volume: VolumeOptions
    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var roots: RootOptions

    @Option(name: .customLong("fs-group"), help: "Group id that gets the volume (group rw, setgid directories).")
    var fsGroup: UInt32?

    func run() throws {
        try reportingErrors {
            var spec = try volume.volume(connection: connection, needsCredentials: false)
            if let name = workload.volumeName { spec.name = name }
            let result = try volume.plugin(roots: roots).setUp(
                spec, podUID: workload.podUID, fsGroup: fsGroup, readOnly: volume.readOnly)
            print(
                "\(result.changed ? "set up" : "already set up")\(result.readOnly ? " read-only" : ""): \(result.path)")
            if !result.timings.phases.isEmpty { print("timings: \(result.timings)") }
        }
    }
}

struct TearDownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teardown", abstract: "Unmount a workload's volume path and remove it (idempotent).")

    @OptionGroup var volume: VolumeOptions
    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var roots: RootOptions

    func run() throws {
        try reportingErrors {
            var spec = try volume.volume(connection: connection, needsCredentials: false)
            if let name = workload.volumeName { spec.name = name }
            let plugin = try volume.plugin(roots: roots)
            let result = try plugin.tearDown(spec, podUID: workload.podUID)
            guard result.changed else {
                print("not set up: \(result.path) (nothing to do)")
                return
            }
            print("torn down: \(result.path)")
            print("timings: \(result.timings)")
        }
    }
}

struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Unmount the global path, unmap the image and forget it (refused while workloads use it).")

    @OptionGroup var volume: VolumeOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var roots: RootOptions

    func run() throws {
        try reportingErrors {
            let spec = try volume.volume(connection: connection, needsCredentials: false)
            let result = try volume.plugin(roots: roots).detach(spec)
            guard result.changed else {
                print("not attached: \(spec.source) (nothing to do)")
                return
            }
            print("detached: \(spec.source)")
            print("timings: \(result.timings)")
        }
    }
}
