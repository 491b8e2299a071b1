// attach (map + probe + mount at the global path) + read-only bind into a workload path, and
// detach (two unmounts + unmap): RBDPlugin vs the same syscalls bare vs the seed's CLI path
// (rbd device map, blkid, mount, mount --bind, mount -o remount,bind,ro).
import BlockMount
import KRBD
import LinuxSystem
import RBDVolume
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A volume attached by the floor or the CLI path.
struct BareVolume {
    var id: Int
    var node: String { "/dev/rbd\(id)" }
    var global: String
    var target: String
    /// Seconds mkfs took inside the attach (0 when the image was formatted already).
    var mkfs = 0.0
}

struct AttachBench {
    let cluster: Cluster
    let plugin: RBDPlugin
    let scratch = "/run/krbd-bench"
    let podUID = "bench-pod"
    /// BlockMount's mkfs.ext4 options (FilesystemFormatter.defaultOptions), for the floor and the CLI path too.
    let mkfs = ["mkfs.ext4", "-F", "-m0", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1"]

    init(cluster: Cluster) throws {
        self.cluster = cluster
        for directory in ["ours", "floor/global", "floor/pod", "cli/global", "cli/pod"] {
            try Files.makeDirectories(FilePath("\(scratch)/\(directory)"), mode: 0o750)
        }
        plugin = RBDPlugin(bus: RBDBus())
        try VolumePluginManager().initPlugins([plugin], host: VolumeHost(rootDirectory: FilePath("\(scratch)/ours")))
    }

    func spec(_ image: String) throws -> VolumeSpec {
        let source = RBDVolumeSource(
            image: try ImageSpec(pool: cluster.pool, image: image), monitors: cluster.monitors,
            credentials: cluster.credentials)
        return VolumeSpec(name: image, source: source, fsType: "ext4")
    }

    // MARK: ours

    /// attach + setUp(readOnly: true); returns the phases of both.
    func oursAttach(_ image: String) throws -> (device: String, phases: [PhaseTimings.Phase], formatted: Bool) {
        let spec = try spec(image)
        let attached = try plugin.attach(spec)
        let setUp = try plugin.setUp(spec, podUID: podUID, readOnly: true)
        return (attached.devicePath.string, attached.timings.phases + setUp.timings.phases, attached.formatted)
    }

    /// tearDown + detach; returns their phases (`unmount` of the bind, then `unmount` and
    /// `unmap` of the volume).
    @discardableResult
    func oursDetach(_ image: String) throws -> [PhaseTimings.Phase] {
        let spec = try spec(image)
        let down = try plugin.tearDown(spec, podUID: podUID)
        return down.timings.phases + (try plugin.detach(spec)).timings.phases
    }

    // MARK: floor

    func floorAttach(_ image: String, request: [UInt8]) throws -> BareVolume {
        let before = try Floor.deviceIDs()
        try Floor.add(request, cluster)
        var volume = BareVolume(
            id: try Floor.newID(before, try Floor.deviceIDs()),
            global: "\(scratch)/floor/global/\(image)", target: "\(scratch)/floor/pod/\(image)")
        var type = try Floor.probe(volume.node)
        if type == nil {
            volume.mkfs = try seconds { try runTool(mkfs + [volume.node]) }
            type = "ext4"
        }
        try Floor.makeDirectory(volume.global)
        try Floor.mount(volume.node, volume.global, type, 0)
        try Floor.makeDirectory(volume.target)
        try Floor.mount(volume.global, volume.target, nil, UInt(MS_BIND))
        try Floor.mount(nil, volume.target, nil, UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY))
        return volume
    }

    /// Returns the seconds of the two unmounts (with their rmdirs) and of the remove write.
    @discardableResult
    func floorDetach(_ volume: BareVolume) throws -> (unmounts: Double, remove: Double) {
        let unmounts = try seconds {
            try Floor.unmount(volume.target)
            try Floor.removeDirectory(volume.target)
            try Floor.unmount(volume.global)
            try Floor.removeDirectory(volume.global)
        }
        return (unmounts, try seconds { try Floor.remove(volume.id) })
    }

    // MARK: CLI

    func cliAttach(_ image: String) throws -> BareVolume {
        let output = try runTool(
            ["rbd", "device", "map", "-o", "noudev,exclusive"] + cluster.cliArguments + ["\(cluster.pool)/\(image)"]
        ).output
        guard let node = output.split(separator: "\n").first(where: { $0.hasPrefix("/dev/rbd") }),
            let id = Int(node.dropFirst("/dev/rbd".count))
        else { throw BenchError("rbd device map printed \(output)") }
        var volume = BareVolume(id: id, global: "\(scratch)/cli/global/\(image)", target: "\(scratch)/cli/pod/\(image)")
        // blkid exits 2 when it finds nothing.
        let probe = try runTool(["blkid", "-p", "-s", "TYPE", "-o", "value", volume.node], allowing: [2])
        var type = probe.output.split(separator: "\n").first.map(String.init) ?? ""
        if probe.exitCode == 2 {
            volume.mkfs = try seconds { try runTool(mkfs + [volume.node]) }
            type = "ext4"
        }
        try Floor.makeDirectory(volume.global)
        try runTool(["mount", "-t", type, volume.node, volume.global])
        try Floor.makeDirectory(volume.target)
        try runTool(["mount", "--bind", volume.global, volume.target])
        try runTool(["mount", "-o", "remount,bind,ro", volume.target])
        return volume
    }

    func cliDetach(_ volume: BareVolume) throws {
        try runTool(["umount", volume.target])
        try Floor.removeDirectory(volume.target)
        try runTool(["umount", volume.global])
        try Floor.removeDirectory(volume.global)
        try runTool(["rbd", "device", "unmap", "-o", "noudev"] + cluster.cliArguments + [volume.node])
    }

    // MARK: Runs

    struct Result {
        var attach = Samples()
        var detach = Samples()
        var phases: [String: [Double]] = [:]
        /// Detach split: ours' `unmounts` (both unmount phases) and `unmap`; the floor's likewise.
        var detachParts: [String: [Double]] = [:]
        var request = ""
    }

    /// The add request ours sends for `image` (config_info of its device), for the floor.
    func request(attachedAt device: String) throws -> String {
        guard let id = Int(device.dropFirst("/dev/rbd".count)) else { throw BenchError("odd device \(device)") }
        return try Files.readAttribute(FilePath("\(Floor.devices)/\(id)/config_info"))
    }

    /// `request` with the image (its fourth field) replaced.
    static func request(_ request: String, image: String) -> [UInt8] {
        var fields = request.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        if fields.count >= 4 { fields[3] = image }
        return Array(fields.joined(separator: " ").utf8)
    }

    /// Attach and detach of the formatted `image`, the three variants in turn on the same image.
    func formatted(_ image: String, runs: Int, cliRuns: Int) throws -> Result {
        var result = Result()
        // Untimed first round: makes the filesystem if the image is blank, and gives the request.
        let first = try oursAttach(image)
        result.request = try request(attachedAt: first.device)
        try oursDetach(image)
        let request = Self.request(result.request, image: image)
        try takeTurns(
            runs: runs, cliRuns: cliRuns, label: "attach formatted",
            ours: {
                var phases: [PhaseTimings.Phase] = []
                result.attach.ours.append(try seconds { phases = try oursAttach(image).phases })
                for phase in phases { result.phases[phase.name, default: []].append(phase.duration.seconds) }
                var down: [PhaseTimings.Phase] = []
                result.detach.ours.append(try seconds { down = try oursDetach(image) })
                result.detachParts["ours unmounts", default: []].append(
                    down.filter { $0.name == "unmount" }.reduce(0) { $0 + $1.duration.seconds })
                result.detachParts["ours unmap", default: []].append(
                    down.filter { $0.name == "unmap" }.reduce(0) { $0 + $1.duration.seconds })
            },
            floor: {
                var volume: BareVolume?
                result.attach.floor.append(try seconds { volume = try floorAttach(image, request: request) })
                var parts = (unmounts: 0.0, remove: 0.0)
                result.detach.floor.append(try seconds { parts = try floorDetach(volume!) })
                result.detachParts["floor unmounts", default: []].append(parts.unmounts)
                result.detachParts["floor remove", default: []].append(parts.remove)
            },
            cli: {
                var volume: BareVolume?
                result.attach.cli.append(try seconds { volume = try cliAttach(image) })
                result.detach.cli.append(try seconds { try cliDetach(volume!) })
            })
        return result
    }

    /// First attach of blank images (mkfs included): each variant gets a fresh image per run.
    /// Detaches are not timed (the CLI's is done bare, to save the guest ~5 s per run).
    /// Returns the attach times, and the same with each run's own mkfs time taken out.
    func blank(_ images: [String], runs: Int, request: String) throws -> (samples: Samples, withoutMkfs: Samples) {
        var samples = Samples()
        var withoutMkfs = Samples()
        var images = images[...]
        // Each variant takes the next fresh image; the CLI runs every time (its images are made).
        try takeTurns(
            runs: runs, cliRuns: runs, label: "attach blank",
            ours: {
                let ours = images.removeFirst()
                var attached: (device: String, phases: [PhaseTimings.Phase], formatted: Bool)?
                let total = try seconds { attached = try oursAttach(ours) }
                guard let attached, attached.formatted else { throw BenchError("\(ours) was not blank") }
                samples.ours.append(total)
                let mkfs = attached.phases.first { $0.name == "mkfs" }?.duration.seconds ?? 0
                withoutMkfs.ours.append(total - mkfs)
                try oursDetach(ours)
            },
            floor: {
                let floorImage = images.removeFirst()
                var volume: BareVolume?
                samples.floor.append(
                    try seconds {
                        volume = try floorAttach(floorImage, request: Self.request(request, image: floorImage))
                    })
                withoutMkfs.floor.append(samples.floor.last! - volume!.mkfs)
                try floorDetach(volume!)
            },
            cli: {
                let cliImage = images.removeFirst()
                var volume: BareVolume?
                samples.cli.append(try seconds { volume = try cliAttach(cliImage) })
                withoutMkfs.cli.append(samples.cli.last! - volume!.mkfs)
                try floorDetach(volume!)
            })
        return (samples, withoutMkfs)
    }
}
