// Issue 13: N maps (and N attaches) at once in one process, on N threads, against N bare add
// writes at once (the floor) and N `rbd device map` processes at once (the CLI path), optionally
// behind a netem delay on the guest's loopback so that waiting for the cluster, not emulated CPU,
// dominates as on a real cluster. Each variant gets its own N images; everything it mapped is
// unmapped (and unmounted) before the next one starts.
import BlockMount
import KRBD
import LinuxSystem
import RBDVolume
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The floor's keyring work while N floor writes are in flight: as ours (RBDBus.map), each
/// thread adds the key to its own thread keyring, writes, and unlinks it (Floor.add).
final class FloorKeys: Sendable {
    /// add_key under the request's key= name (thread keyring), one write of `request` to
    /// add_single_major, keyctl_unlink.
    func add(_ request: [UInt8], _ cluster: Cluster) throws { try Floor.add(request, cluster) }
}

struct StormBench {
    let cluster: Cluster
    let bus = RBDBus()
    let plugin: RBDPlugin
    let keys = FloorKeys()
    static let scratch = "/run/krbd-bench/storm"
    /// Maps with MapBench's options (no mount_timeout, as rbd's CLI sends none).
    var mapOptions: MapOptions {
        var options = MapOptions()
        options.mountTimeout = nil
        return options
    }

    init(cluster: Cluster) throws {
        self.cluster = cluster
        for directory in ["ours", "floor"] {
            try Files.makeDirectories(FilePath("\(Self.scratch)/\(directory)"), mode: 0o750)
        }
        plugin = RBDPlugin(bus: RBDBus())
        try VolumePluginManager().initPlugins(
            [plugin], host: VolumeHost(rootDirectory: FilePath("\(Self.scratch)/ours")))
    }

    /// The samples of one N at one delay (seconds: each storm's makespan, one per run).
    struct Cell {
        var n: Int
        var map = Samples()
        /// When the first of the N maps ended, per run (ours, floor).
        var firstMap = Samples()
        /// The median CPU time of the N mapping threads in their calls (CLOCK_THREAD_CPUTIME_ID),
        /// per run (ours, floor).
        var mapCPU = Samples()
        /// Makespan of N threads reading back (RBDBus.device(id:)) 1, 2, …, N of the floor's N
        /// devices: what ours' maps read after their writes in a storm, where every map listed
        /// before any device appeared and so reads in full each device that appeared before its
        /// own answer (untimed for the variants; per run).
        var readBack: [Double] = []
        var attach = Samples()
        /// Ours' attach of N blank images at once (mkfs included).
        var blank: [Double] = []
        /// Medians over the attaches of a storm, per phase ("map", "probe", "mkfs-queue", …), one per run.
        var attachPhases: [String: [Double]] = [:]
        var blankPhases: [String: [Double]] = [:]
    }

    func spec(_ image: String) throws -> ImageSpec { try ImageSpec(pool: cluster.pool, image: image) }

    func volume(_ image: String) throws -> VolumeSpec {
        let source = RBDVolumeSource(
            image: try spec(image), monitors: cluster.monitors, credentials: cluster.credentials)
        return VolumeSpec(name: image, source: source, fsType: "ext4")
    }

    // MARK: One cell

    /// Runs every variant `runs` times with `n` at once; `delay` switches the loopback's netem
    /// delay on for the timed part only (setup and image removal run without it: they are slow
    /// enough under emulation).
    func cell(n: Int, delay: Int?, runs: Int) throws -> Cell {
        let tag = "s\(delay ?? 0)n\(n)"
        func names(_ variant: String) -> [String] { (0..<n).map { "\(tag)-\(variant)\($0)" } }
        let (mapOurs, mapFloor, mapCLI) = (names("mo"), names("mf"), names("mc"))
        let (attachOurs, attachFloor) = (names("ao"), names("af"))
        let blanks = (0..<runs).map { names("b\($0)-") }
        progress("storm N=\(n)\(delay.map { ", netem \($0) ms" } ?? ""): creating \(n * (5 + runs)) images")
        try cluster.createImages(mapOurs + mapFloor + mapCLI + attachOurs + attachFloor + blanks.flatMap { $0 })

        // Untimed: ours maps the floor's images once, for the exact requests the floor replays;
        // ours attaches both attach sets once (mkfs), the floor's for its requests.
        progress("storm N=\(n): requests and filesystems (untimed)")
        let mapped = try values(onThreads(n) { [self] i in try oursMap(mapFloor[i]) }.results, "map for requests")
        let mapRequests = try mapped.map { device in
            guard let text = device.configInfo else { throw BenchError("no config_info on \(device)") }
            return Array(text.utf8)
        }
        try values(onThreads(n) { [self] i in try bus.unmap(mapped[i]) }.results, "unmap")
        let both = attachOurs + attachFloor
        let attached = try values(
            onThreads(2 * n) { [self] i in try plugin.attach(volume(both[i])) }.results, "mkfs attach")
        let attachRequests = try attached.suffix(n).map { attached in
            guard let id = Int(attached.devicePath.string.dropFirst("/dev/rbd".count)) else {
                throw BenchError("odd device \(attached.devicePath)")
            }
            return Array(try Files.readAttribute(FilePath("\(Floor.devices)/\(id)/config_info")).utf8)
        }
        try values(onThreads(2 * n) { [self] i in try plugin.detach(volume(both[i])) }.results, "detach")
        try Self.expectNothingMapped("after the untimed round")
        progress("storm N=\(n): timed runs")

        var cell = Cell(n: n)
        if let delay { try Netem.set(delay) }
        try takeTurns(
            runs: runs, cliRuns: runs, label: "storm N=\(n) map",
            ours: {
                let (seconds, first, cpu) = try oursMapStorm(mapOurs)
                cell.map.ours.append(seconds)
                cell.firstMap.ours.append(first)
                cell.mapCPU.ours.append(cpu)
            },
            floor: {
                let (seconds, first, cpu, readBack) = try floorMapStorm(mapFloor, mapRequests)
                cell.map.floor.append(seconds)
                cell.firstMap.floor.append(first)
                cell.mapCPU.floor.append(cpu)
                cell.readBack.append(readBack)
            },
            cli: { cell.map.cli.append(try cliMapStorm(mapCLI)) })
        try takeTurns(
            runs: runs, cliRuns: 0, label: "storm N=\(n) attach formatted",
            ours: {
                let (seconds, phases) = try oursAttachStorm(attachOurs, blank: false)
                cell.attach.ours.append(seconds)
                for (name, value) in phases { cell.attachPhases[name, default: []].append(value) }
            },
            floor: { cell.attach.floor.append(try floorAttachStorm(attachFloor, attachRequests)) },
            cli: {})
        for run in 0..<runs {
            progress("storm N=\(n) attach blank: run \(run + 1)/\(runs)")
            let (seconds, phases) = try oursAttachStorm(blanks[run], blank: true)
            cell.blank.append(seconds)
            for (name, value) in phases { cell.blankPhases[name, default: []].append(value) }
        }
        if delay != nil { try Netem.set(0) }
        // memstore keeps every object in the OSD's memory (~3 MiB a formatted image here): the
        // written images' data goes once the cell is done (~10 s of python3 start-up a call).
        progress("storm N=\(n): dropping the data of the written images (\(Self.osdMemory()))")
        try cluster.dropImageData(attachOurs + attachFloor + blanks.flatMap { $0 })
        progress("storm N=\(n): done (\(Self.osdMemory()))")
        return cell
    }

    // MARK: Variants (each returns the storm's makespan and leaves nothing mapped)

    func oursMap(_ image: String) throws -> MappedDevice {
        try bus.map(
            try spec(image), monitors: cluster.monitors, credentials: cluster.credentials, options: mapOptions
        ).device
    }

    /// The makespan, when the first map ended, and the median CPU time of the N mapping threads.
    func oursMapStorm(_ images: [String]) throws -> (Double, Double, Double) {
        let storm = try onThreads(images.count) { [self] i in try oursMap(images[i]) }
        let devices = try values(storm.results, "ours map")
        try values(onThreads(devices.count) { [self] i in try bus.unmap(devices[i]) }.results, "ours unmap")
        try Self.expectNothingMapped("after ours' map storm")
        return (storm.seconds, storm.firstDone, median(storm.cpu))
    }

    /// The makespan, when the first write ended, the median CPU time of the N writing threads, and
    /// the read-back's makespan.
    func floorMapStorm(_ images: [String], _ requests: [[UInt8]]) throws -> (Double, Double, Double, Double) {
        let storm = try onThreads(images.count) { [self] i in try keys.add(requests[i], cluster) }
        try values(storm.results, "floor map")
        let ids = try Floor.deviceIDs().sorted()
        let readBack = try onThreads(ids.count) { [self] i in
            for id in ids.prefix(i + 1) { _ = try bus.device(id: id) }
        }
        try values(readBack.results, "read-back")
        try Self.removeAll(expecting: Set(images), "the floor's map storm")
        return (storm.seconds, storm.firstDone, median(storm.cpu), readBack.seconds)
    }

    func cliMapStorm(_ images: [String]) throws -> Double {
        let storm = try onThreads(images.count) { [self] i in
            try runTool(
                ["rbd", "device", "map", "-o", "noudev"] + cluster.cliArguments + ["\(cluster.pool)/\(images[i])"])
        }
        try values(storm.results, "rbd device map")
        // Removed bare (one write each): `rbd device unmap` costs the guest ~1 s a device.
        try Self.removeAll(expecting: Set(images), "the CLI's map storm")
        return storm.seconds
    }

    /// N `RBDPlugin.attach` at once (map + probe + mkfs when blank + mount at the global path);
    /// returns the makespan and the median of each phase over the N attaches.
    func oursAttachStorm(_ images: [String], blank: Bool) throws -> (Double, [String: Double]) {
        let storm = try onThreads(images.count) { [self] i in try plugin.attach(volume(images[i])) }
        let results = try values(storm.results, "ours attach")
        for (image, result) in zip(images, results) where result.formatted != blank {
            throw BenchError("\(image) was \(blank ? "not blank" : "blank") at its attach")
        }
        var phases: [String: [Double]] = [:]
        for result in results {
            for phase in result.timings.phases { phases[phase.name, default: []].append(phase.duration.seconds) }
        }
        try values(onThreads(images.count) { [self] i in try plugin.detach(volume(images[i])) }.results, "ours detach")
        try Self.expectNothingMapped("after ours' attach storm")
        var summary = phases.mapValues(median)
        // The median attach of a storm may not wait for a mkfs slot at all; the longest wait shows the queue.
        if let waits = phases["mkfs-queue"], let longest = waits.max() { summary["longest mkfs-queue"] = longest }
        return (storm.seconds, summary)
    }

    /// The floor of one attach: add_key + the add write, the new device found by its `name` (the
    /// other N-1 appear meanwhile), the libblkid probe, mkdir, mount(2) with ours' MS_NODEV|MS_NOSUID.
    func floorAttach(_ image: String, _ request: [UInt8]) throws -> BareVolume {
        let before = try Floor.deviceIDs()
        try keys.add(request, cluster)
        var mine: Int?
        for id in try Floor.deviceIDs().subtracting(before).sorted()
        where (try? Files.readAttribute(FilePath("\(Floor.devices)/\(id)/name"))) == image {
            mine = id
            break
        }
        guard let id = mine else { throw BenchError("the floor's map of \(image) made no device named so") }
        let volume = BareVolume(id: id, global: "\(Self.scratch)/floor/\(image)", target: "")
        guard let type = try Floor.probe(volume.node) else { throw BenchError("\(image) is blank") }
        try Floor.makeDirectory(volume.global)
        try Floor.mount(volume.node, volume.global, type, UInt(MS_NODEV) | UInt(MS_NOSUID))
        return volume
    }

    func floorAttachStorm(_ images: [String], _ requests: [[UInt8]]) throws -> Double {
        let storm = try onThreads(images.count) { [self] i in try floorAttach(images[i], requests[i]) }
        let volumes = try values(storm.results, "floor attach")
        try values(
            onThreads(volumes.count) { i in
                try Floor.unmount(volumes[i].global)
                try Floor.removeDirectory(volumes[i].global)
                try Floor.remove(volumes[i].id)
            }.results, "floor detach")
        try Self.expectNothingMapped("after the floor's attach storm")
        return storm.seconds
    }

    // MARK: The keyring check

    /// Maps `images` at once, one thread each, in a process that never made a process keyring,
    /// and unmaps them again; throws when any failed. Linux keeps the process keyring in each
    /// thread's credentials (a keyring one thread makes is not seen by threads already running):
    /// ours once shared one process-keyring entry between the maps in flight, and the maps on
    /// the other threads got EPERM. Run before anything else touches a keyring.
    func keyringCheck(_ images: [String]) throws {
        let storm = try onThreads(images.count) { [self] i in try oursMap(images[i]) }
        var errors: [String] = []
        for result in storm.results {
            switch result {
            case .success(let device): try bus.unmap(device)
            case .failure(let error): errors.append("\(error)")
            }
        }
        try Self.expectNothingMapped("after the keyring check")
        if let first = errors.first {
            throw BenchError(
                "\(errors.count) of \(images.count) maps at once on threads of a process without a process keyring "
                    + "failed (the storms would measure failures): \(first)")
        }
    }

    /// The OSD's resident memory, for the progress log (memstore holds every object in RAM).
    static func osdMemory() -> String {
        for entry in (try? Files.list(FilePath("/proc"))) ?? [] where Int(entry) != nil {
            guard (try? Files.readAttribute(FilePath("/proc/\(entry)/comm"))) == "ceph-osd",
                let status = try? Files.readText(FilePath("/proc/\(entry)/status")),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
            else { continue }
            return "ceph-osd " + line.split(separator: " ").dropFirst().joined(separator: " ")
        }
        return "ceph-osd RSS unknown"
    }

    // MARK: Cleanup

    /// Removes every rbd device (one write each, all at once); they must be exactly `images`.
    static func removeAll(expecting images: Set<String>, _ what: String) throws {
        let ids = try Floor.deviceIDs().sorted()
        let names = ids.map { id in (try? Files.readAttribute(FilePath("\(Floor.devices)/\(id)/name"))) ?? "?" }
        guard Set(names) == images, ids.count == images.count else {
            throw BenchError("\(what) left \(names.sorted()) mapped, expected \(images.sorted())")
        }
        try values(onThreads(ids.count) { i in try Floor.remove(ids[i]) }.results, "remove")
        try expectNothingMapped("after \(what)")
    }

    static func expectNothingMapped(_ when: String) throws {
        let left = try Floor.deviceIDs()
        guard left.isEmpty else { throw BenchError("rbd devices \(left.sorted()) are still mapped \(when)") }
    }

    /// After a failure: unmounts everything under the scratch directory (deepest first, lazily)
    /// and removes every rbd device with `force`, so that the guest can power off (it wedges on a
    /// mapped device) and the error is what the run reports.
    static func sweep() {
        if let text = try? Files.readText(FilePath("/proc/self/mountinfo")) {
            let targets = text.split(separator: "\n").compactMap { line -> String? in
                let fields = line.split(separator: " ")
                return fields.count > 4 && fields[4].hasPrefix(scratch) ? String(fields[4]) : nil
            }
            for target in targets.sorted(by: { $0.count > $1.count }) { _ = system_umount2(target, CInt(MNT_DETACH)) }
        }
        for id in (try? Floor.deviceIDs()) ?? [] {
            _ = try? Floor.write("/sys/bus/rbd/remove_single_major", Array("\(id) force".utf8))
        }
    }
}

/// The guest loopback's netem delay (`tc`, sch_netem).
enum Netem {
    /// Loads sch_netem and puts a netem qdisc (no delay yet) on lo; the error says why not.
    static func install() throws {
        let probe = try runTool(["modprobe", "sch_netem"], allowing: Set(1...255))
        guard probe.exitCode == 0 else {
            throw BenchError("modprobe sch_netem failed: \(probe.output.split(separator: "\n").first ?? "")")
        }
        try runTool(["tc", "qdisc", "replace", "dev", "lo", "root", "netem", "delay", "0ms"])
    }

    /// Sets the delay of every packet through lo (a round trip pays it twice); `replace` keeps
    /// the queue, so that no packet in flight is dropped at the switch.
    static func set(_ milliseconds: Int) throws {
        try runTool(["tc", "qdisc", "replace", "dev", "lo", "root", "netem", "delay", "\(milliseconds)ms"])
    }

    static func remove() { _ = try? runTool(["tc", "qdisc", "del", "dev", "lo", "root"]) }

    /// `tc qdisc show dev lo`, for the report.
    static func show() -> String {
        let output = (try? runTool(["tc", "qdisc", "show", "dev", "lo"]))?.output ?? "?"
        return output.split(separator: "\n").joined(separator: "; ")
    }
}

// MARK: Report

extension StormBench {
    /// One netem setting's cells.
    struct Section {
        var delay: Int
        var cells: [Cell]
    }

    /// Seconds as a plain number (the tables' columns say the unit).
    static func secs(_ value: Double) -> String { fixed(value, value < 10 ? 3 : 2) }

    /// Seconds as milliseconds, one decimal (the column says the unit).
    static func millis(_ value: Double) -> String { fixed(value * 1e3, 1) }

    static func render(
        kernel: String, runs: Int, sections: [Section], skipped: String?, qdisc: String, checkedMaps: Int
    ) -> String {
        var out = [
            "### Storms: N maps and N attaches at once (guest kernel \(kernel) under TCG; "
                + "median of \(runs) runs per cell)",
            "Keyring check: \(checkedMaps) maps at once on threads of a process without a process keyring all "
                + "mapped (each map's key goes to its own thread's keyring).",
        ]
        for section in sections {
            let floor1 = section.cells.first { $0.n == 1 }.map { median($0.map.floor) }
            var table = MarkdownTable(
                "N", "floor (s)", "ours map (s)", "ours/floor", "CLI (s)", "ours/CLI", "floor(N)/floor(1)",
                "attach formatted ours/floor", "attach blank (s)")
            var details = MarkdownTable(
                "N", "floor per map (s)", "ours map, runs (s)", "floor, runs (s)", "first map done: ours / floor (s)",
                "thread CPU per map, ours / floor (ms)", "ours − floor (ms)",
                "read-back of 1…N devices on N threads (s)", "attach formatted: ours / floor (s)",
                "ours attach phases (median of the N)", "attach blank phases (median of the N)")
            for cell in section.cells {
                let (ours, floor, cli) = (median(cell.map.ours), median(cell.map.floor), median(cell.map.cli))
                let (attachOurs, attachFloor) = (median(cell.attach.ours), median(cell.attach.floor))
                let (cpuOurs, cpuFloor) = (median(cell.mapCPU.ours), median(cell.mapCPU.floor))
                table.add(
                    "\(cell.n)", secs(floor), secs(ours), fixed(pairedRatio(cell.map.ours, cell.map.floor), 2) + "×",
                    secs(cli), ratio(ours, cli), floor1.map { ratio(floor, $0) } ?? "–",
                    fixed(pairedRatio(cell.attach.ours, cell.attach.floor), 2) + "×", secs(median(cell.blank)))
                func phases(_ phases: [String: [Double]]) -> String {
                    ["map", "probe", "mkfs-queue", "longest mkfs-queue", "mkfs", "mount"].compactMap { name in
                        phases[name].map { "\(name) \(secs(median($0)))" }
                    }.joined(separator: ", ")
                }
                details.add(
                    "\(cell.n)", secs(floor / Double(cell.n)), cell.map.ours.map(secs).joined(separator: ", "),
                    cell.map.floor.map(secs).joined(separator: ", "),
                    "\(secs(median(cell.firstMap.ours))) / \(secs(median(cell.firstMap.floor)))",
                    "\(millis(cpuOurs)) / \(millis(cpuFloor))", millis(cpuOurs - cpuFloor),
                    secs(median(cell.readBack)),
                    "\(secs(attachOurs)) / \(secs(attachFloor))",
                    phases(cell.attachPhases), phases(cell.blankPhases))
            }
            out.append(
                section.delay == 0
                    ? "#### No delay (the guest's loopback as it is)"
                    : "#### netem \(section.delay) ms on the guest's loopback (each packet: a round trip pays it "
                        + "twice)")
            out.append(table.text)
            out.append(details.text)
        }
        if let skipped { out.append("**netem part skipped: \(skipped)**") }
        out.append(
            """
            - Each cell: every variant maps N distinct fresh images (1 GiB thin, layering + exclusive-lock) \
            at once and is timed from the release of N waiting threads to the end of the last one (the \
            storm's makespan); everything it mapped is unmapped (attach: unmounted and unmapped) before \
            the next variant starts, so every storm starts with no mapping: its first map makes the \
            kernel client, the others share it. ours/floor is the median of the per-run ratios (ours and \
            the floor take turns at going first; the CLI goes first in every run); ours/CLI is the ratio \
            of the medians; floor(N)/floor(1) compares the floor's medians.
            - Map: ours is `RBDBus.map` on N threads of one process; the floor is N threads each doing \
            add_key (under the request's own `key=` name) + one write of the request ours wrote for that \
            image (its config_info, from an untimed map before) to `add_single_major` (the last one out \
            unlinks the key); the CLI is N `rbd device map -o noudev` processes started at once. Thread \
            CPU per map: the CPU time of each mapping thread in its call (CLOCK_THREAD_CPUTIME_ID, user + \
            system, so the kernel's work in the writing thread is in both; the kernel's worker threads and \
            the cluster's daemons are in neither), median over the N threads of a run, then over the runs; \
            ours − floor is the difference of those medians, so it is ours' own work in the guest: our \
            syscalls and our code. The \
            read-back column (untimed for the variants, after the floor's storm): N threads read back \
            1, 2, …, N of the N devices in full (`RBDBus.device(id:)`): what ours' maps did after their \
            writes before commit 82c2e06 (each read every device new since its listing, in a storm every \
            other mapper's too). They now read the `name` of new devices (from `/sys/devices/rbd`, not \
            through the bus's symlinks) until they reach their own, which they read in full and know by \
            its exact request in config_info (commit b1933b6); the column stays as the measure of what \
            that saves.
            - Attach formatted: N `RBDPlugin.attach` at once (map with `exclusive` + probe + mount at the \
            global path; journal and volume locks) against N threads of add_key + write + finding the \
            new device by its `name` + libblkid probe + mkdir + mount(2) with MS_NODEV|MS_NOSUID, on \
            images formatted in an untimed round. Attach blank: N `RBDPlugin.attach` of fresh images \
            (mkfs.ext4 included) with the default `FilesystemFormatter.concurrencyLimit` \
            (\(FilesystemFormatter.concurrencyLimit) mkfs at a time in the process: the rest wait in `mkfs-queue`).
            - Loopback qdisc while the last delayed cell ran: `\(qdisc)`.
            """)
        return out.joined(separator: "\n\n")
    }
}
