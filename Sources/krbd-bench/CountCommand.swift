// `krbd-bench count`: ours' own work per `RBDBus.map` and `unmap`, natively (issue 13: map
// ≤ 50 µs of our own work, counted in instructions). The kernel's add/remove writes are played
// by scripts/lib/kernel-sim.c (LD_PRELOAD) on a fixture sysfs tree of 16 mapped devices, and so
// are add_key/keyctl_unlink (this host's kernel has no ceph key type): every other call is the
// real one (opens and reads of the fixture's attribute files, the image's lock, the device node's
// stat). scripts/bench --instructions runs it natively (time) and under callgrind, which counts
// the instructions in `countedMap`/`countedUnmap`; the simulator's share is subtracted. Nothing
// is asserted.
import ArgumentParser
import KRBD
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

struct CountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count",
        abstract: "Map and unmap one image against the kernel simulator (scripts/lib/kernel-sim.c), natively.",
        discussion: """
            Needs LD_PRELOAD=kernel-sim.so and root (the keyring, mknod). Prints one line per \
            operation: `<op> <calls> <ours ns per call>`, ours being the wall time less the \
            simulator's. Under callgrind, count the instructions of the functions \
            `countedMap` and `countedUnmap` (--toggle-collect) with `krbd_sim_kernel` left out.
            """)

    @Option(help: "Map/unmap pairs measured (after 5 unmeasured ones).")
    var iterations = 200

    @Option(help: "Directory on the host's disk for the fixture tree.")
    var scratch: String = "/var/tmp"

    func run() throws {
        // nil: RTLD_DEFAULT, the preloaded simulator among the rest.
        guard let simulated = dlsym(nil, "krbd_sim_nanoseconds") else {
            throw BenchError("the kernel simulator is not loaded: run with LD_PRELOAD=<kernel-sim.so>")
        }
        let simulatorTime = unsafeBitCast(simulated, to: (@convention(c) () -> UInt64).self)
        let fixture = try SysfsFixture(devices: 16, in: FilePath(scratch))
        defer { fixture.tree.remove() }
        let root = fixture.tree.root
        let rbd = fixture.sysfs.appending("bus/rbd")
        for control in ["add_single_major", "remove_single_major"] {
            try writeFile(AT_FDCWD, rbd.appending(control).string, [], mode: 0o200)
        }
        try Files.makeDirectories(root.appending("spare"), mode: 0o755)
        let spares = try openDirectory(root.appending("spare").string)
        defer { _ = system_close(spares) }
        // The ids the simulated kernel hands out: the lowest free one (16) every time.
        for id in 16..<18 {
            try makeDirectory(spares, String(id))
            let directory = system_openat(spares, String(id), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory < 0 { throw BenchError("open spare \(id): \(Errno.current)") }
            defer { _ = system_close(directory) }
            for (name, value) in SysfsFixture.values(id) {
                let text = name == "name" ? "counted" : name == "config_info" ? "" : value
                try writeFile(directory, name, Array((text + "\n").utf8), mode: name == "config_info" ? 0o600 : 0o444)
            }
        }
        setenv("KRBD_SIM_ROOT", root.string, 1)
        let bus = RBDBus(
            sysfs: fixture.sysfs, dev: root.appending("dev"), proc: "/proc", lockFile: root.appending("krbd.lock"))
        let spec = try ImageSpec(pool: "rbd", image: "counted")
        let monitors = try MonitorAddress.parseList("127.0.0.1:6789")
        let credentials = try CephCredentials(
            user: "admin", secret: CephSecret(base64: "AQBzPqFlAAAAABAAuQ0wmDXcsp9uA3lS8mMJ5A=="))
        for _ in 0..<5 { try countedUnmap(bus, try countedMap(bus, spec, monitors, credentials)) }
        let clock = ContinuousClock()
        // Signed: one call's simulator time may exceed its wall time by the clocks' resolution.
        var map: Int64 = 0
        var unmap: Int64 = 0
        var usageBefore = rusage()
        _ = getrusage(RUSAGE_SELF.rawValue, &usageBefore)
        let simulatedAtStart = simulatorTime()
        for _ in 0..<iterations {
            var simulatedBefore = simulatorTime()
            var start = clock.now
            let device = try countedMap(bus, spec, monitors, credentials)
            map += nanoseconds(clock.now - start) - Int64(simulatorTime() - simulatedBefore)
            simulatedBefore = simulatorTime()
            start = clock.now
            try countedUnmap(bus, device)
            unmap += nanoseconds(clock.now - start) - Int64(simulatorTime() - simulatedBefore)
        }
        var usageAfter = rusage()
        _ = getrusage(RUSAGE_SELF.rawValue, &usageAfter)
        func microseconds(_ time: timeval) -> Int { time.tv_sec * 1_000_000 + time.tv_usec }
        let user = microseconds(usageAfter.ru_utime) - microseconds(usageBefore.ru_utime)
        let system = microseconds(usageAfter.ru_stime) - microseconds(usageBefore.ru_stime)
        print("map \(iterations) \(map / Int64(iterations))")
        print("unmap \(iterations) \(unmap / Int64(iterations))")
        // The whole loop's CPU time, user and system (the simulator's share included; its wall
        // time, mostly system, is printed beside them).
        print("cpu \(iterations) \(user) \(system) \((simulatorTime() - simulatedAtStart) / 1000)")
    }

    private func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

/// One map, as callgrind's toggle sees it (never inlined, so that its name stays in the binary).
@inline(never)
func countedMap(
    _ bus: RBDBus, _ spec: ImageSpec, _ monitors: [MonitorAddress], _ credentials: CephCredentials
) throws -> MappedDevice {
    let result = try bus.map(spec, monitors: monitors, credentials: credentials)
    guard result.newlyMapped, result.device.id == 16 else {
        throw BenchError("the simulated map gave \(result.device) (new: \(result.newlyMapped)), not a new rbd16")
    }
    return result.device
}

/// One unmap, as callgrind's toggle sees it.
@inline(never)
func countedUnmap(_ bus: RBDBus, _ device: MappedDevice) throws {
    guard try bus.unmap(device) == .removed else { throw BenchError("the simulated unmap did not remove \(device)") }
}
