// `krbd-bench steps`: what each internal step of attach/detach costs on this machine (median of
// in-process repetitions), to see where ours spends the time beyond the kernel's work. A
// profile, not a comparison: it prints no ratio.
import ArgumentParser
import BlockMount
import KRBD
import LinuxSystem
import Logging
import RBDVolume
import SystemPackage

struct StepsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steps",
        abstract: "Time the internal steps of attach and detach on the real rbd.ko (run it inside scripts/sandbox).")

    @Option(help: "Repetitions per step (median).")
    var repeats = 30

    @OptionGroup var output: OutputOptions

    func run() throws {
        let cluster = try Cluster.fromEnvironment()
        let attach = try AttachBench(cluster: cluster)
        let spec = try attach.spec("vol0")
        let plugin = attach.plugin
        _ = try attach.oursAttach("vol0")
        defer { _ = try? attach.oursDetach("vol0") }
        let key = try plugin.key(for: spec)
        let global = plugin.globalPath(key: key)
        let journal = plugin.journal
        guard let record = try journal.load(key) else { throw BenchError("no journal for \(key)") }
        let mounter = Mounter()
        let bus = RBDBus()
        guard let device = try bus.mappedDevices().first else { throw BenchError("nothing mapped") }
        let logger = Logger(label: "steps")

        var table = MarkdownTable("step", "median", "min")
        func step(_ name: String, _ body: () throws -> Void) throws {
            var samples: [Double] = []
            for _ in 0..<repeats { samples.append(try seconds(body)) }
            table.add(name, human(median(samples)), human(samples.min() ?? 0))
        }
        try step("journal.load") { _ = try journal.load(key) }
        try step("journal.save") { try journal.save(record) }
        try step("mountTable()") { _ = try mounter.mountTable() }
        try step("mountTable().references(to: global)") { _ = try mounter.mountTable().references(to: global) }
        try step("mountPointStatus(global)") { _ = try mounter.mountPointStatus(global) }
        try step("FileLock.withLock (volume lock)") {
            try FileLock.withLock(FilePath("/run/krbd-bench/steps.lock"), timeout: .seconds(1)) {}
        }
        try step("bus.mappedDevices()") { _ = try bus.mappedDevices() }
        try step("bus.device(id:)") { _ = try bus.device(id: device.id) }
        try step("bus.devices(for: spec)") { _ = try bus.devices(for: device.spec) }
        try step("BlockProbe.probe (page cache warm)") { _ = try BlockProbe.probe(device.path) }
        try step("logger.info with 5 metadata") {
            logger.info(
                "attach done", metadata: ["volume": "x", "total": "1.0", "map": "1", "probe": "2", "mount": "3"])
        }
        try step("MountTable.referenceTargets(to: global)") { _ = try MountTable.referenceTargets(to: global) }
        try step("plugin.key(for: spec)") { _ = try plugin.key(for: spec) }
        try step("tearDown of a pod never set up (lock + statx)") { try plugin.tearDown(spec, podUID: "nobody") }
        try step("bus.unmap of a stale identity (lock + identity check)") {
            var stale = device
            stale.imageID = "not-this-image"
            _ = try bus.unmap(stale)
        }
        try step("RBDPlugin.attach of the attached volume (lock + journal + statx)") { _ = try plugin.attach(spec) }
        try step("ContinuousClock.now x2") {
            let c = ContinuousClock(); _ = c.now - c.now
        }
        var text = "### Internal steps (median of \(repeats))\n\n" + table.text
        #if ENABLE_MOCKING
            try attach.oursDetach("vol0")
            text += try Self.traceLifecycle(attach, runs: 4)
            _ = try attach.oursAttach("vol0")
            text += try Self.traceMapAndUnmap(cluster, runs: 5)
        #endif
        try emit(text, to: output.output)
    }
}

#if ENABLE_MOCKING
    extension StepsCommand {
        /// Debug builds: ours' map and unmap of `rbd/plain` with every syscall wrapper's call time,
        /// to find where they spend the time beyond the floor's single write.
        static func traceMapAndUnmap(_ cluster: Cluster, runs: Int) throws -> String {
            let bus = RBDBus()
            let image = try ImageSpec(pool: cluster.pool, image: "plain")
            var options = MapOptions()
            options.mountTimeout = nil
            var text = ""
            for run in 1...runs {
                let clock = ContinuousClock()
                let (device, mapTrace, mapEnd): (MappedDevice, [MockCall], ContinuousClock.Instant) =
                    try MockingDriver.with { driver in
                        let device = try bus.map(
                            image, monitors: cluster.monitors, credentials: cluster.credentials, options: options
                        ).device
                        return (device, driver.trace, clock.now)
                    }
                let (unmapTrace, unmapEnd) = try MockingDriver.with { driver in
                    try bus.unmap(device)
                    return (driver.trace, clock.now)
                }
                guard run == runs else { continue }
                text += render([("map", mapTrace, mapEnd), ("unmap", unmapTrace, unmapEnd)], run: run)
            }
            return text
        }

        /// Ours' attach + setUp and tearDown + detach of `vol0`, traced as above.
        static func traceLifecycle(_ attach: AttachBench, runs: Int) throws -> String {
            var text = ""
            for run in 1...runs {
                let clock = ContinuousClock()
                let (up, upEnd) = try MockingDriver.with { driver in
                    _ = try attach.oursAttach("vol0")
                    return (driver.trace, clock.now)
                }
                let (down, downEnd) = try MockingDriver.with { driver in
                    try attach.oursDetach("vol0")
                    return (driver.trace, clock.now)
                }
                guard run == runs else { continue }
                text += render([("attach + setUp", up, upEnd), ("tearDown + detach", down, downEnd)], run: run)
            }
            return text
        }

        static func render(_ traces: [(String, [MockCall], ContinuousClock.Instant)], run: Int) -> String {
            var text = ""
            for (label, trace, end) in traces {
                text += "\n#### \(label) (run \(run)): \(trace.count) calls\n\n```\n"
                for (index, call) in trace.enumerated() {
                    let next = index + 1 < trace.count ? trace[index + 1].time : end
                    text += "\(fixed((next - call.time).seconds * 1e3, 3)) ms  \(call)\n"
                }
                text += "```\n"
            }
            return text
        }
    }
#endif
