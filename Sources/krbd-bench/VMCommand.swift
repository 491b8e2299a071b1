import ArgumentParser
import KRBD
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Map, attach and detach on the real rbd.ko and a cluster (run it inside scripts/sandbox).",
        discussion: "Needs the KRBD_TEST_* variables of scripts/sandbox, and no rbd device mapped.")

    @Option(help: "Runs of ours and the floor for map, unmap, attach and detach (median; paired by run).")
    var runs = 30

    @Option(help: "Runs of the CLI path among those (seconds each; its ratio has a wide margin).")
    var cliRuns = 10

    @Option(help: "Runs per variant for the first attach of a blank image (each on a fresh image).")
    var blankRuns = 5

    @Option(help: "The krbd executable whose peak RSS is measured (default: next to krbd-bench).")
    var krbd: String?

    @Option(help: "Run only the storm bench (issue 13) for these N, comma-separated: N maps and N attaches at once.")
    var storm: String?

    @Option(help: "Runs per storm cell (median).")
    var stormRuns = 3

    @Option(help: "netem delays (ms, comma-separated) on the guest's loopback for the storm; 0 is none.")
    var stormDelays = "0,5"

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard runs >= 1, blankRuns >= 1, cliRuns >= 1, stormRuns >= 1 else {
            throw ValidationError("--runs, --cli-runs, --blank-runs and --storm-runs must be at least 1")
        }
        if let storm { _ = try Self.numbers(storm, "--storm", minimum: 1) }
        _ = try Self.numbers(stormDelays, "--storm-delays", minimum: 0)
    }

    /// A comma-separated list of integers, each at least `minimum`.
    static func numbers(_ text: String, _ option: String, minimum: Int) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: " ")) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? Int.min) >= minimum }) else {
            throw ValidationError("\(option) takes integers of at least \(minimum), comma-separated (got '\(text)')")
        }
        return values.compactMap { $0 }
    }

    func run() throws {
        if let storm {
            try runStorm(
                sizes: try Self.numbers(storm, "--storm", minimum: 1),
                delays: try Self.numbers(stormDelays, "--storm-delays", minimum: 0))
            return
        }
        let cluster = try Cluster.fromEnvironment()
        let krbd = try self.krbd ?? Self.sibling("krbd")
        let image = try ImageSpec(pool: cluster.pool, image: "plain")
        let scratch = "/run/krbd-bench"
        try Files.makeDirectories(FilePath(scratch), mode: 0o750)

        progress("warm-up: rbd, blkid, mount, mkfs (page cache of the 9p root)")
        let rbdMapRSS = try Self.peakRSS(
            ["rbd", "device", "map", "-o", "noudev"] + cluster.cliArguments + ["\(image)"])
        try runTool(["rbd", "device", "unmap", "-o", "noudev"] + cluster.cliArguments + ["\(image)"])
        for tool in [["blkid", "-V"], ["mount", "-V"], ["umount", "-V"], ["mkfs.ext4", "-V"]] { try runTool(tool) }

        let blanks = try Self.blankImages(count: 3 * blankRuns, cluster: cluster)

        let maps = MapBench(cluster: cluster, image: image)
        let cold = try maps.run(warm: false, runs: runs, cliRuns: cliRuns)
        let warm = try maps.run(warm: true, runs: runs, cliRuns: cliRuns)

        let attach = try AttachBench(cluster: cluster)
        let formatted = try attach.formatted("vol0", runs: runs, cliRuns: cliRuns)
        let blank = try attach.blank(blanks, runs: blankRuns, request: formatted.request)

        progress("peak RSS: krbd map, krbd attach")
        var mapRSS = 0
        var attachRSS = 0
        for _ in 0..<2 {
            mapRSS = max(mapRSS, try Self.peakRSS([krbd, "map", "\(image)"] + cluster.krbdArguments))
            _ = try RBDBus().unmap(image)
            attachRSS = max(
                attachRSS,
                try Self.peakRSS(
                    [krbd, "attach", "\(image.pool)/vol0", "--root", "\(scratch)/ours"] + cluster.krbdArguments))
            try attach.plugin.detach(try attach.spec("vol0"))
        }
        guard try RBDBus().mappedDevices().isEmpty else { throw BenchError("devices are still mapped after the bench") }

        try emit(
            Self.render(
                kernel: Self.kernelRelease(), runs: runs, cliRuns: min(cliRuns, runs), blankRuns: blankRuns, cold: cold,
                warm: warm, formatted: formatted, blank: blank,
                rss: [
                    ("`krbd map`", mapRSS), ("`krbd attach`", attachRSS),
                    ("`rbd device map` (for reference)", rbdMapRSS),
                ]),
            to: output.output)
    }

    /// The storm bench alone (StormBench): every N at each delay, in one guest.
    func runStorm(sizes: [Int], delays: [Int]) throws {
        let cluster = try Cluster.fromEnvironment()
        try StormBench.expectNothingMapped("before the storm bench")
        let bench = try StormBench(cluster: cluster)
        // A failure mid-storm must not leave mounts or mappings: poweroff wedges on a mapped device.
        defer {
            StormBench.sweep()
            Netem.remove()
        }
        progress("warm-up: rbd, blkid, mkfs (page cache of the 9p root)")
        for tool in [["rbd", "--version"], ["blkid", "-V"], ["mkfs.ext4", "-V"]] { try runTool(tool) }
        let checkImages = (0..<4).map { "keycheck\($0)" }
        try cluster.createImages(checkImages)
        progress("keyring check: \(checkImages.count) maps at once on threads, no process keyring made beforehand")
        try bench.keyringCheck(checkImages)
        var sections: [StormBench.Section] = []
        var skipped: String?
        var qdisc = "none"
        for delay in delays {
            if delay > 0 {
                do {
                    try Netem.install()
                    try Netem.set(delay)
                    qdisc = Netem.show()
                    try Netem.set(0)
                } catch {
                    skipped = "netem \(delay) ms: \(error)"
                    progress("NETEM SKIPPED (\(delay) ms): \(error)")
                    continue
                }
            }
            var section = StormBench.Section(delay: delay, cells: [])
            for n in sizes {
                let cell = try bench.cell(n: n, delay: delay > 0 ? delay : nil, runs: stormRuns)
                section.cells.append(cell)
                // On the guest's stderr as it goes: a run cut short still shows what it measured.
                progress(
                    "storm result: netem \(delay) ms, N=\(n): floor \(cell.map.floor), ours \(cell.map.ours), "
                        + "CLI \(cell.map.cli), attach ours \(cell.attach.ours), floor \(cell.attach.floor), "
                        + "blank \(cell.blank)")
            }
            if delay > 0 { Netem.remove() }
            sections.append(section)
        }
        try emit(
            StormBench.render(
                kernel: Self.kernelRelease(), runs: stormRuns, sections: sections, skipped: skipped, qdisc: qdisc,
                checkedMaps: checkImages.count),
            to: output.output)
    }

    /// The running kernel's release (uname -r).
    static func kernelRelease() -> String {
        var uts = utsname()
        _ = system_uname(&uts)
        return withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// `<directory of this executable>/<name>`.
    static func sibling(_ name: String) throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { system_readlinkat(AT_FDCWD, "/proc/self/exe", $0) }
        guard n > 0 else { throw BenchError("cannot read /proc/self/exe: \(Errno.current)") }
        return FilePath(String(decoding: buffer[0..<n], as: UTF8.self)).removingLastComponent().appending(name).string
    }

    /// Peak RSS in KiB of `arguments` (GNU time's %M: ru_maxrss from wait4).
    static func peakRSS(_ arguments: [String]) throws -> Int {
        let file = "/run/krbd-bench/rss"
        try runTool(["/usr/bin/time", "-f", "%M", "-o", file] + arguments)
        let text = try Files.readAttribute(FilePath(file))
        guard let kib = Int(text.split(separator: "\n").last ?? "") else { throw BenchError("time wrote \(text)") }
        return kib
    }

    /// `count` fresh images with exclusive-lock: the sandbox's unused blank ones, then bench<N>
    /// made in one python3 process (each ceph CLI call costs ~5 s under emulation).
    static func blankImages(count: Int, cluster: Cluster) throws -> [String] {
        var images = (0..<6).map { "blank\($0)" } + ["vol1", "vol2", "vol3", "demo"]
        if count > images.count {
            let extra = (0..<(count - images.count)).map { "bench\($0)" }
            progress("creating \(extra.count) more blank images")
            try cluster.createImages(extra)
            images += extra
        }
        return Array(images.prefix(count))
    }

    static func render(
        kernel: String, runs: Int, cliRuns: Int, blankRuns: Int, cold: MapBench.Result, warm: MapBench.Result,
        formatted: AttachBench.Result, blank: (samples: Samples, withoutMkfs: Samples), rss: [(String, Int)]
    ) -> String {
        var table = MarkdownTable(
            "operation", "ours", "floor (bare syscalls)", "CLI", "ours/floor", "ours/CLI", "fastest runs: ours/floor")
        func row(_ name: String, _ s: Samples) {
            let (o, f, c) = (median(s.ours), median(s.floor), median(s.cli))
            let (fastestOurs, fastestFloor) = (s.ours.min() ?? 0, s.floor.min() ?? 0)
            table.add(
                name, human(o), human(f), human(c), fixed(pairedRatio(s.ours, s.floor), 2) + "×", ratio(o, c),
                "\(ratio(fastestOurs, fastestFloor)) (\(human(fastestOurs)) / \(human(fastestFloor)))")
        }
        row("map, cold (new kernel client)", cold.map)
        row("unmap, cold (last mapping: client torn down)", cold.unmap)
        row("map, warm (client shared)", warm.map)
        row("unmap, warm", warm.unmap)
        row("attach formatted image + ro bind", formatted.attach)
        row("detach (2 unmounts + unmap)", formatted.detach)
        row("first attach of a blank image (mkfs) + ro bind [n=\(blankRuns)]", blank.samples)
        row("the same, each run's mkfs time taken out [n=\(blankRuns)]", blank.withoutMkfs)
        var memory = MarkdownTable("process", "peak RSS")
        for (name, kib) in rss { memory.add(name, fixed(Double(kib) / 1024, 1) + " MiB") }
        let phases = formatted.phases.keys.sorted().map { "\($0) \(human(median(formatted.phases[$0]!)))" }
        return """
            ### Real rbd.ko + Ceph (guest kernel \(kernel) under TCG; medians of \(runs) interleaved runs, the CLI's of \(cliRuns))

            \(table.text)

            \(memory.text)

            - ours/floor is the median of the per-run ratios (ours and the floor run back to back in \
            every run, taking turns at going first, so a slow stretch of the guest slows both); ours/CLI \
            is the ratio of the medians; the last column compares each variant's fastest run, which \
            emulation noise (a guest CPU shared with the cluster's daemons) inflates least.
            - Map rows: `RBDBus.map`/`unmap` vs add_key + one `write(2)` of the same request to \
            `add_single_major` + keyctl_unlink (unmap: one write of `<id>` to `remove_single_major`) vs \
            `rbd device map/unmap -o noudev`. Request (ours' config_info, written verbatim by the floor): \
            `\(cold.request)`. Warm: `rbd/snapimg@s1` stays mapped; runs that shared its client: \
            \(warm.sharedClient.joined(separator: ", ")).
            - Attach rows: `RBDPlugin.attach` + `setUp(readOnly: true)` vs add_key + write + getdents64 of \
            `devices/` + `BlockProbe.probe` + mkdir + `mount(2)` + mkdir + `mount(MS_BIND)` + \
            `mount(MS_BIND|MS_REMOUNT|MS_RDONLY)` vs `rbd device map -o noudev,exclusive` + `blkid -p` + `mount` + \
            `mount --bind` + `mount -o remount,bind,ro`. All three map with `exclusive` (ours' default fencing); \
            request `\(formatted.request)`. Detach: `tearDown` + `detach` vs umount2 + rmdir twice + remove write \
            vs `umount` twice + `rbd device unmap`. Blank: mkfs.ext4 with BlockMount's options in all three; \
            the row below it subtracts each run's own mkfs (ours: its `mkfs` phase, which includes the \
            formatter's slot; the others: the mkfs.ext4 process), the part of the work that is not the tool's.
            - Ours' attach phases (median): \(phases.joined(separator: ", ")).
            - Detach split (median): \(["ours unmounts", "floor unmounts", "ours unmap", "floor remove"].map { "\($0) \(human(median(formatted.detachParts[$0] ?? [])))" }.joined(separator: ", ")).
            """
    }
}
