// Tier 3: the volume lifecycle on the real rbd.ko and Ceph, inside `scripts/sandbox run`.
// Images vol0…vol3 and volnolock (no exclusive-lock feature) are blank and only used here.
import Foundation
import SystemPackage
import Testing

@testable import BlockMount
@testable import KRBD
@testable import RBDVolume

@Suite(.serialized, .sandbox) final class VolumeSandboxTests {
    let env = ProcessInfo.processInfo.environment
    /// udevd's blkid probe of a new device holds it open for a moment (EBUSY on unmap); under
    /// emulation a cold udev worker takes seconds, not the default window's 500 ms.
    let bus = {
        var bus = RBDBus(); bus.busyRetryWindow = .seconds(3); return bus
    }()
    let node: TemporaryDirectory
    let plugin: RBDPlugin

    init() throws {
        node = try TemporaryDirectory("krbd-node")
        plugin = RBDPlugin(bus: bus, lockTimeout: .seconds(60))
        try VolumePluginManager().initPlugins([plugin], host: VolumeHost(rootDirectory: node.path))
    }

    deinit {
        // Whatever a failed test left behind: mounts under the node root, then mappings.
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for target in table.split(separator: "\n").compactMap({ $0.split(separator: " ").dropFirst(4).first })
            .map(String.init).filter({ $0.hasPrefix(node.path.string) }).reversed()
        {
            umount2(target, Int32(MNT_DETACH))
        }
        for name in ["vol0", "vol1", "vol2", "vol3", "volnolock"] {
            if let spec = try? ImageSpec(pool: "rbd", image: name) { _ = try? bus.unmap(spec, force: true) }
        }
    }

    func volume(_ image: String, readOnly: Bool = false, fencing: Fencing = .exclusiveLock) throws -> VolumeSpec {
        let credentials = try CephCredentials.keyringFile(
            FilePath(env["KRBD_TEST_KEYRING"] ?? "/etc/ceph/ceph.client.admin.keyring"),
            user: env["KRBD_TEST_USER"] ?? "admin")
        var options = MapOptions()
        options.mountTimeout = 20
        let source = RBDVolumeSource(
            image: try ImageSpec(pool: env["KRBD_TEST_POOL"] ?? "rbd", image: image),
            monitors: try MonitorAddress.parseList(env["KRBD_TEST_MON"] ?? "127.0.0.1:6789"),
            credentials: credentials, options: options, fencing: fencing)
        return VolumeSpec(name: "data", source: source, readOnly: readOnly)
    }

    func image(_ spec: VolumeSpec) -> ImageSpec { (spec.source as! RBDVolumeSource).image }

    @Test func fullLifecycleFormatsOnceAndKeepsData() throws {
        let spec = try volume("vol0")
        let attached = try plugin.attach(spec)
        #expect(attached.changed && attached.formatted && attached.fsType == "ext4")
        #expect(
            attached.timings.phases.map(\.name).contains("map") && attached.timings.phases.map(\.name).contains("mkfs"))
        let device = try #require(try bus.device(for: image(spec)))
        #expect(device.path == attached.devicePath)
        // Fenced: the read-write map holds the exclusive lock and refuses to hand it over.
        #expect(device.configInfo?.contains("exclusive") == true)
        #expect(device.configInfo?.contains("secret=") == false)
        #expect(try !plugin.attach(spec).changed)

        let rw = try plugin.setUp(spec, podUID: "pod-a", fsGroup: 2000)
        let ro = try plugin.setUp(spec, podUID: "pod-b", readOnly: true)
        try Data("written through rbd\n".utf8).write(to: URL(fileURLWithPath: rw.path.string + "/hello"))
        #expect(try String(contentsOfFile: ro.path.string + "/hello", encoding: .utf8) == "written through rbd\n")
        let fd = open(ro.path.string + "/nope", O_CREAT | O_WRONLY, 0o644)
        let writeErrno = errno
        #expect(fd == -1 && writeErrno == EROFS)

        // The kernel refuses to unmap a mounted device: the typed error names the mount.
        let busy = #expect(throws: RBDError.self) { try bus.unmap(device) }
        #expect(
            busy?.code == .busy && busy?.message.contains(attached.globalPath.string) == true,
            "\(String(describing: busy))")
        // Detach is refused while workloads use it.
        let inUse = #expect(throws: VolumeError.self) { try plugin.detach(spec) }
        #expect(inUse?.code == .inUse)

        try plugin.tearDown(spec, podUID: "pod-a")
        try plugin.tearDown(spec, podUID: "pod-b")
        let detach = try plugin.detach(spec)
        #expect(detach.changed && detach.timings.phases.map(\.name) == ["unmount", "unmap"])
        #expect(!(try plugin.detach(spec)).changed)
        #expect(try bus.device(for: image(spec)) == nil)
        #expect(plugin.journal.keys().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: attached.globalPath.string))

        // Re-attach: the filesystem is found, never remade, and the data is there.
        let again = try plugin.attach(spec)
        #expect(again.changed && !again.formatted)
        #expect(
            try String(contentsOfFile: again.globalPath.string + "/hello", encoding: .utf8) == "written through rbd\n")
        try plugin.detach(spec)
        #expect(try bus.device(for: image(spec)) == nil)
    }

    @Test func anotherClientCannotTakeAFencedImageOver() throws {
        let spec = try volume("vol1")
        _ = try plugin.attach(spec)
        defer { _ = try? plugin.detach(spec) }
        // A second, independent kernel client (noshare) stands for another node.
        var options = MapOptions()
        options.noshare = true
        options.mountTimeout = 20
        let source = spec.source as! RBDVolumeSource
        let error = #expect(throws: RBDError.self) {
            try bus.map(
                source.image, monitors: source.monitors, credentials: source.credentials, options: options,
                policy: .mapAgain)
        }
        #expect(error?.code == .lockHeld, "\(String(describing: error))")
        #expect(try bus.devices(for: source.image).count == 1)
    }

    @Test func imagesWithoutExclusiveLockMapUnfencedOrAreRefused() throws {
        let refused = try volume("volnolock", fencing: .requireExclusiveLock)
        #expect(throws: VolumeError.self) { try plugin.attach(refused) }
        #expect(try bus.device(for: image(refused)) == nil)
        #expect(plugin.journal.keys().isEmpty)

        let unfenced = try volume("volnolock")
        let result = try plugin.attach(unfenced)
        #expect(result.changed && result.formatted)
        let device = try #require(try bus.device(for: image(unfenced)))
        #expect(device.configInfo?.contains("exclusive") == false)
        try plugin.detach(unfenced)
        #expect(try bus.device(for: image(unfenced)) == nil)
    }

    @Test func readOnlyVolumesAreReadOnlyAtDeviceLevel() throws {
        let rw = try volume("vol2")
        _ = try plugin.attach(rw)
        try plugin.detach(rw)
        let ro = try volume("vol2", readOnly: true)
        let attached = try plugin.attach(ro)
        defer { _ = try? plugin.detach(ro) }
        #expect(!attached.formatted)
        let device = try #require(try bus.device(for: image(ro)))
        let roFlag = try String(contentsOfFile: "/sys/block/rbd\(device.id)/ro", encoding: .utf8)
        #expect(roFlag.hasPrefix("1"))
        let setUp = try plugin.setUp(ro, podUID: "pod-ro")
        #expect(setUp.readOnly)
        try plugin.tearDown(ro, podUID: "pod-ro")
    }

    @Test func blankReadOnlyVolumeIsNeverFormattedAndLeavesNoMapping() throws {
        let ro = try volume("vol3", readOnly: true)
        let error = #expect(throws: VolumeError.self) { try plugin.attach(ro) }
        #expect(error?.code == .mount)
        #expect(try bus.device(for: image(ro)) == nil)
    }

    @Test func theCLIDrivesTheLifecycle() throws {
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "krbd"
        ).path
        let common = [
            "--root", node.path.string, "-m", env["KRBD_TEST_MON"] ?? "127.0.0.1:6789",
            "--keyring", env["KRBD_TEST_KEYRING"] ?? "/etc/ceph/ceph.client.admin.keyring",
        ]
        func krbd(_ args: [String]) throws -> (Int32, String) { try runTool(cli, args) }
        defer { _ = try? krbd(["detach", "rbd/vol3"] + common) }
        let attach = try krbd(["attach", "rbd/vol3"] + common)
        #expect(attach.0 == 0 && attach.1.contains("attached (formatted ext4)"), "\(attach.1)")
        let setup = try krbd(["setup", "rbd/vol3", "--pod", "p1", "--read-only"] + common)
        #expect(setup.0 == 0 && setup.1.contains("read-only"), "\(setup.1)")
        let status = try krbd(["status", "--root", node.path.string, "--json"])
        #expect(status.0 == 0 && status.1.contains("rbd-image-vol3") && status.1.contains("/pods/p1/"), "\(status.1)")
        let refused = try krbd(["detach", "rbd/vol3"] + common)
        #expect(refused.0 == 52, "\(refused.1)")
        #expect(try krbd(["teardown", "rbd/vol3", "--pod", "p1"] + common).0 == 0)
        let list = try krbd(["list"])
        #expect(list.1.contains("vol3"))
        let detach = try krbd(["detach", "rbd/vol3"] + common)
        #expect(detach.0 == 0, "\(detach.1)")
        #expect(try !krbd(["list"]).1.contains("vol3"))
    }

    @Test func killedAttachConvergesOnRetry() throws {
        // kill -9 a `krbd attach` as soon as its mapping exists (mid probe/mkfs/mount/journal),
        // then attach again in process: one device, mounted, journaled; detach leaves nothing.
        let spec = try volume("vol0")
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "krbd"
        ).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = [
            "attach", "rbd/vol0", "--root", node.path.string, "-m", env["KRBD_TEST_MON"] ?? "127.0.0.1:6789",
            "--keyring", env["KRBD_TEST_KEYRING"] ?? "/etc/ceph/ceph.client.admin.keyring",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while try bus.device(for: image(spec)) == nil, process.isRunning, ContinuousClock.now < deadline {
            usleep(2_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let attached = try plugin.attach(spec)
        #expect(try bus.devices(for: image(spec)).count == 1)
        #expect(try plugin.journal.load(attached.key)?.phase == .mounted)
        #expect(try plugin.reconcile().map(\.kind) == [.consistent])
        try plugin.detach(spec)
        #expect(try bus.device(for: image(spec)) == nil)
        #expect(plugin.journal.keys().isEmpty)
    }
}
