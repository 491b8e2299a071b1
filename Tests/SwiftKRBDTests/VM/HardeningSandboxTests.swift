// Tier 3, issue 11 points 1-5: the attacks of the hardening issue on the real rbd.ko and Ceph,
// inside `scripts/sandbox run` (run with udevd and without). Images hard0…hard5 are blank and
// only used here. The bus keeps its default busy window: udev's probes must be waited out by
// the defaults a node gets.
import Foundation
import Synchronization
import SystemPackage
import Testing

@testable import BlockMount
@testable import KRBD
@testable import RBDVolume

@Suite(.serialized, .sandbox) final class HardeningSandboxTests {
    let env = ProcessInfo.processInfo.environment
    let bus = RBDBus()
    let node: TemporaryDirectory
    let plugin: RBDPlugin

    init() throws {
        node = try TemporaryDirectory("krbd-hard")
        plugin = RBDPlugin(bus: bus, lockTimeout: .seconds(60))
        try VolumePluginManager().initPlugins([plugin], host: VolumeHost(rootDirectory: node.path))
    }

    deinit {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for target in table.split(separator: "\n").compactMap({ $0.split(separator: " ").dropFirst(4).first })
            .map(String.init).filter({ $0.hasPrefix(node.path.string) }).reversed()
        {
            umount2(target, Int32(MNT_DETACH))
        }
        for i in 0..<6 {
            if let spec = try? ImageSpec(pool: "rbd", image: "hard\(i)") { _ = try? bus.unmap(spec, force: true) }
        }
    }

    var keyring: FilePath { FilePath(env["KRBD_TEST_KEYRING"] ?? "/etc/ceph/ceph.client.admin.keyring") }
    var user: String { env["KRBD_TEST_USER"] ?? "admin" }
    var monitors: [MonitorAddress] { (try? MonitorAddress.parseList(env["KRBD_TEST_MON"] ?? "127.0.0.1:6789")) ?? [] }
    func credentials() throws -> CephCredentials { try CephCredentials.keyringFile(keyring, user: user) }
    func image(_ name: String) throws -> ImageSpec { try ImageSpec(pool: env["KRBD_TEST_POOL"] ?? "rbd", image: name) }

    func volume(_ name: String, readOnly: Bool = false, fencing: Fencing = .exclusiveLock) throws -> VolumeSpec {
        let source = RBDVolumeSource(
            image: try image(name), monitors: monitors, credentials: try credentials(), fencing: fencing)
        return VolumeSpec(name: "data", source: source, readOnly: readOnly)
    }

    var cli: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("krbd").path
    }

    /// 11.1: after a plain map, no attach adopts it (fenced, require-fenced, read-only), and a
    /// fenced attach keeps a second kernel client (noshare, msgr2) from taking the lock.
    @Test func anExistingMappingIsAdoptedOnlyAsAFreshMapWouldBe() throws {
        let plain = try bus.map(try image("hard0"), monitors: monitors, credentials: try credentials())
        for spec in [
            try volume("hard0"), try volume("hard0", fencing: .requireExclusiveLock),
            try volume("hard0", readOnly: true),
        ] {
            let error = #expect(throws: VolumeError.self) { try plugin.attach(spec) }
            let cause: RBDError? = if case .rbd(let cause)? = error?.cause { cause } else { nil }
            #expect(cause?.code == .alreadyMapped, "\(String(describing: error))")
            #expect(error?.message.contains(plain.device.devicePath) == true)
        }
        #expect(
            try bus.devices(for: try image("hard0")).map(\.id) == [plain.device.id], "nothing mapped, nothing removed")
        try bus.unmap(plain.device)

        let spec = try volume("hard0")
        let attached = try plugin.attach(spec)
        let device = try #require(try bus.device(for: try image("hard0")))
        #expect(device.configInfo?.contains("exclusive") == true && attached.devicePath == device.path)
        // The same attach again adopts its own mapping (idempotent), nothing new.
        #expect(try plugin.attach(spec).changed == false)
        if let v2 = env["KRBD_TEST_MON_V2"] {
            var options = MapOptions()
            options.exclusive = true
            options.noshare = true
            options.messengerMode = .crc
            options.mountTimeout = 20
            let second = #expect(throws: RBDError.self) {
                try bus.map(
                    try image("hard0"), monitors: try MonitorAddress.parseList(v2), credentials: try credentials(),
                    options: options)
            }
            #expect(second?.code == .lockHeld, "a second writer must be refused: \(String(describing: second))")
        } else {
            Issue.record("KRBD_TEST_MON_V2 is not set by the sandbox")
        }
        #expect(try bus.devices(for: try image("hard0")).count == 1)
        try plugin.detach(spec)
        #expect(try bus.device(for: try image("hard0")) == nil)
    }

    /// 11.2: a caller with a wrong key is never handed the mapped device; the kernel answers.
    @Test func aWrongKeyIsNeverHandedTheMappedDevice() throws {
        let right = try bus.map(try image("hard1"), monitors: monitors, credentials: try credentials())
        defer { _ = try? bus.unmap(right.device) }
        // A well-formed cephx key (type 1, created time, length 16, random bytes) that is not the user's.
        var bytes: [UInt8] = [1, 0, 0x51, 0xc4, 0xf5, 0x66, 0, 0, 0, 0, 16, 0]
        bytes += (0..<16).map { _ in UInt8.random(in: 0...255) }
        let wrong = try CephCredentials(user: user, secret: CephSecret(bytes: bytes))
        let error = #expect(throws: RBDError.self) {
            try bus.map(try image("hard1"), monitors: monitors, credentials: wrong)
        }
        #expect(error?.code == .authenticationFailed, "\(String(describing: error))")
        #expect(try bus.devices(for: try image("hard1")).map(\.id) == [right.device.id])
        // The CLI too: exit code of authenticationFailed, no device printed.
        let file = node.path.appending("wrong.keyring")
        try "[client.\(user)]\n\tkey = \(Base64.encode(bytes))\n".write(
            toFile: file.string, atomically: true, encoding: .utf8)
        let (status, output) = try runTool(
            cli,
            [
                "map", "rbd/hard1", "--id", user, "--keyring", file.string, "-m",
                env["KRBD_TEST_MON"] ?? "127.0.0.1:6789",
            ])
        #expect(status == 33 && !output.contains(right.device.devicePath), "\(status): \(output)")
        // The right key reuses.
        #expect(
            try bus.map(try image("hard1"), monitors: monitors, credentials: try credentials()).newlyMapped == false)
    }

    /// 11.3: a bad argument maps nothing; a mount that mount(2) refuses after map and mkfs leaves
    /// nothing mapped (the rollback waits out udev's opener) and no journal.
    @Test func aFailedAttachLeavesNothingMapped() throws {
        let (status, output) = try runTool(
            cli,
            [
                "attach", "rbd/hard2", "--fs-type", "../x", "--root", node.path.string, "-m",
                env["KRBD_TEST_MON"] ?? "127.0.0.1:6789", "--keyring", keyring.string,
            ])
        #expect(status == 50 && output.split(separator: "\n").count == 1, "\(status): \(output)")
        #expect(try bus.device(for: try image("hard2")) == nil)

        var spec = try volume("hard2")
        spec.mountOptions = ["data=bogus"]
        let error = #expect(throws: VolumeError.self) { try plugin.attach(spec) }
        let cause: MountError? = if case .mount(let cause)? = error?.cause { cause } else { nil }
        #expect(cause?.code == .mountFailed, "\(String(describing: error))")
        #expect(try bus.device(for: try image("hard2")) == nil, "the failed attach left a mapping")
        #expect(plugin.journal.keys().isEmpty)
        #expect(try plugin.status().isEmpty)
    }

    /// 11.4: detach right after attach (udev still probing the device) succeeds with the
    /// default busy window.
    @Test func detachRightAfterAttachWaitsOutUdev() throws {
        let spec = try volume("hard3")
        for _ in 0..<3 {
            try plugin.attach(spec)
            try plugin.detach(spec)
            #expect(try bus.device(for: try image("hard3")) == nil)
            #expect(plugin.journal.keys().isEmpty)
        }
    }

    /// 11.5: kill -9 of the attaching process and its mkfs (the process group, as a cgroup kill
    /// does) while mkfs has written part of the filesystem: the next attach formats again.
    @Test func anAttachKilledDuringMkfsIsFinishedByTheNextAttach() throws {
        // A mkfs.ext4 that stops where a killed one would: tables written, superblock not yet
        // (ext4 writes it last), then waits to be killed. /usr/local/sbin comes first in the
        // library's tool search path; the guest's /usr is a throwaway overlay.
        let bin = FilePath("/usr/local/sbin")
        try FileManager.default.createDirectory(atPath: bin.string, withIntermediateDirectories: true)
        let real = ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }!
        defer { unlink(bin.appending("mkfs.ext4").string) }
        let script = """
            #!/bin/sh
            for dev; do :; done
            \(real) "$@" >/dev/null 2>&1 && dd if=/dev/zero of="$dev" bs=4096 count=1 conv=notrunc status=none
            sync
            echo $$ > \(node.path.string)/mkfs-started.tmp && mv \(node.path.string)/mkfs-started.tmp \(node.path.string)/mkfs-started
            exec sleep 600
            """
        try script.write(toFile: bin.appending("mkfs.ext4").string, atomically: true, encoding: .utf8)
        chmod(bin.appending("mkfs.ext4").string, 0o755)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = [
            "attach", "rbd/hard4", "--root", node.path.string, "-m",
            env["KRBD_TEST_MON"] ?? "127.0.0.1:6789", "--keyring", keyring.string,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(120)
        while !FileManager.default.fileExists(atPath: node.path.string + "/mkfs-started"), process.isRunning,
            ContinuousClock.now < deadline
        {
            usleep(10_000)
        }
        let started = try? String(contentsOfFile: node.path.string + "/mkfs-started", encoding: .utf8)
        guard let mkfs = started.flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("mkfs never started")
            return
        }
        // Both at once, as a cgroup kill does: krbd and its mkfs.
        kill(process.processIdentifier, SIGKILL)
        kill(mkfs, SIGKILL)
        process.waitUntilExit()
        unlink(bin.appending("mkfs.ext4").string)

        let spec = try volume("hard4")
        let key = try plugin.key(for: spec)
        #expect(try plugin.journal.load(key)?.phase == .formatting)
        let device = try #require(try bus.device(for: try image("hard4")))
        guard case .nonZeroData = try BlockProbe.probe(device.path).result else {
            Issue.record("the killed mkfs must leave data without a signature")
            return
        }
        let attached = try plugin.attach(spec)
        #expect(attached.formatted && attached.fsType == "ext4" && attached.devicePath == device.path)
        #expect(try bus.devices(for: try image("hard4")).count == 1)
        try plugin.detach(spec)
        #expect(try bus.device(for: try image("hard4")) == nil)

        // The same half-made image on a new mapping (the old one was removed) is never
        // formatted: nothing proves that nobody wrote it in between.
        let remapped = try bus.map(try image("hard5"), monitors: monitors, credentials: try credentials())
        try sh(
            "mkfs.ext4 -q -F \(remapped.device.devicePath) && dd if=/dev/zero of=\(remapped.device.devicePath) bs=4096 count=1 conv=notrunc status=none"
        )
        try bus.unmap(remapped.device)
        let error = #expect(throws: VolumeError.self) { try plugin.attach(try volume("hard5")) }
        let cause: MountError? = if case .mount(let cause)? = error?.cause { cause } else { nil }
        #expect(
            cause?.code == .unknownData && error?.message.contains("is not zero") == true,
            "\(String(describing: error))")
        #expect(try bus.device(for: try image("hard5")) == nil)
    }

    /// Issue 13 on the real kernel: maps of different images on threads that all exist before
    /// the first map (a node agent's thread pool) each find their key. Linux keeps the process
    /// keyring in each thread's credentials, so a key one thread puts there is not seen by the
    /// others: the key goes to each thread's own keyring instead.
    @Test func concurrentMapsOnThreadsEachFindTheirKey() throws {
        let images = try (0..<4).map { try image("hard\($0)") }
        for spec in images { _ = try bus.unmap(spec, force: true) }
        let credentials = try credentials()
        let monitors = monitors
        let bus = bus
        let results = Mutex<[Result<MappedDevice, RBDError>]>([])
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for spec in images {
            done.enter()
            let thread = Thread {
                start.wait()
                let result = Result { () throws(RBDError) -> MappedDevice in
                    try bus.map(spec, monitors: monitors, credentials: credentials).device
                }
                results.withLock { $0.append(result) }
                done.leave()
            }
            thread.start()
        }
        for _ in images { start.signal() }
        done.wait()
        let all = results.withLock { $0 }
        for result in all {
            if case .failure(let error) = result { Issue.record("a concurrent map failed: \(error)") }
        }
        let devices = all.compactMap { try? $0.get() }
        #expect(Set(devices.map(\.image)) == Set(images.map(\.image)) && Set(devices.map(\.id)).count == images.count)
        for device in devices { try bus.unmap(device) }
    }
}
