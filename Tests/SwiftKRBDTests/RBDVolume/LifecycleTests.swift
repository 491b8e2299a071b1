import Foundation
import SystemPackage
import Testing

@testable import LinuxSystem
@testable import RBDVolume

@Suite struct ReconcileDecisionTests {
    typealias Plugin = BlockVolumePlugin<LoopVolumeProvider>

    @Test(arguments: [
        (AttachPhase.mounted, true, true, ReconcileFinding.Kind.consistent),
        (.mapped, true, true, .consistent),
        (.mounted, true, false, .mappedNotMounted),
        (.mapped, true, false, .mappedNotMounted),
        (.attaching, true, false, .interrupted),
        (.detaching, true, false, .interrupted),
        (.detaching, false, false, .interrupted),
        (.attaching, false, false, .interrupted),
        (.mounted, false, false, .journalWithoutDevice),
        (.mounted, false, true, .staleMount),
    ])
    func classification(_ phase: AttachPhase, _ attached: Bool, _ mounted: Bool, _ expected: ReconcileFinding.Kind) {
        #expect(Plugin.classify(phase: phase, deviceAttached: attached, globalMounted: mounted) == expected)
    }

    /// An `attaching` record without an identity cannot tell whether its device exists: a
    /// mounted global path is then never taken for a stale mount (which repair would unmount).
    @Test(arguments: [true, false])
    func attachingWithoutIdentityIsOnlyEverInterrupted(mounted: Bool) {
        #expect(
            Plugin.classify(phase: .attaching, deviceAttached: false, globalMounted: mounted, identityKnown: false)
                == .interrupted)
    }
}

/// The whole lifecycle on real loop devices and real mounts (root + KRBD_PRIVILEGED_TESTS=1).
@Suite(.serialized, .privileged) final class LifecyclePrivilegedTests {
    let dir: TemporaryDirectory
    let plugin: BlockVolumePlugin<LoopVolumeProvider>
    let spec: VolumeSpec
    let image: FilePath

    init() throws {
        dir = try TemporaryDirectory("krbd-life")
        image = try sparseFile(dir("disk.img"), mebibytes: 64)
        plugin = BlockVolumePlugin(name: "example.com/loop", provider: LoopVolumeProvider(), lockTimeout: .seconds(5))
        try VolumePluginManager().initPlugins([plugin], host: VolumeHost(rootDirectory: dir("node")))
        spec = VolumeSpec(name: "data", source: LoopVolumeSource(imageFile: image))
    }

    deinit { cleanUpLoopTest(dir) }  // whatever a failing test left

    var journalFile: String { dir.path.string + "/node/plugins/example.com/loop/journal/loop-disk.img.json" }

    func loopDevices() throws -> [String] {
        try sh("losetup -j '\(image)'").split(separator: "\n").map { String($0.prefix { $0 != ":" }) }
    }

    @Test func attachSetUpTearDownDetachLeavesNothing() throws {
        let first = try plugin.attach(spec)
        #expect(first.changed && first.formatted && first.fsType == "ext4")
        #expect(first.timings.phases.map(\.name).starts(with: ["map", "probe"]))
        let again = try plugin.attach(spec)
        #expect(!again.changed && again.devicePath == first.devicePath)
        #expect(try loopDevices().count == 1)

        let rw = try plugin.setUp(spec, podUID: "pod-rw", fsGroup: 4242)
        let ro = try plugin.setUp(spec, podUID: "pod-ro", readOnly: true)
        #expect(rw.changed && ro.changed && ro.readOnly)
        #expect(try !plugin.setUp(spec, podUID: "pod-rw", fsGroup: 4242).changed)

        // Write through rw, read through ro; ro refuses writes with EROFS.
        try Data("hello".utf8).write(to: URL(fileURLWithPath: rw.path.string + "/f"))
        #expect(try String(contentsOfFile: ro.path.string + "/f", encoding: .utf8) == "hello")
        let fd = open(ro.path.string + "/g", O_CREAT | O_WRONLY, 0o644)
        let writeErrno = errno
        #expect(fd == -1 && writeErrno == EROFS)
        var st = stat()
        #expect(stat(rw.path.string, &st) == 0 && st.st_gid == 4242 && st.st_mode & S_ISGID != 0)

        // Detach is refused while workloads use the volume, and names them.
        let busy = #expect(throws: VolumeError.self) { try plugin.detach(spec) }
        #expect(busy?.code == .inUse && busy?.message.contains("pod-ro") == true)

        try plugin.tearDown(spec, podUID: "pod-rw")
        try plugin.tearDown(spec, podUID: "pod-ro")
        try plugin.tearDown(spec, podUID: "pod-ro")
        #expect(!FileManager.default.fileExists(atPath: rw.path.string))
        let detach = try plugin.detach(spec)
        #expect(detach.changed && detach.timings.phases.map(\.name) == ["unmount", "unmap"])
        #expect(!(try plugin.detach(spec)).changed)
        #expect(try loopDevices().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: journalFile))
        #expect(!FileManager.default.fileExists(atPath: first.globalPath.string))
        #expect(try mountinfoLines(at: first.globalPath).isEmpty)

        // Data written before detach reads back after re-attach, and the filesystem is not remade.
        let back = try plugin.attach(spec)
        #expect(back.changed && !back.formatted)
        #expect(try String(contentsOfFile: back.globalPath.string + "/f", encoding: .utf8) == "hello")
        try plugin.detach(spec)
    }

    @Test func modeMismatchesAreRefusedNotReportedAsDone() throws {
        try plugin.attach(spec)
        defer { _ = try? plugin.tearDown(spec, podUID: "pod-x"); _ = try? plugin.detach(spec) }
        try plugin.setUp(spec, podUID: "pod-x")
        // A read-only request must not be answered "done" by an existing writable bind.
        let ro = #expect(throws: VolumeError.self) { try plugin.setUp(spec, podUID: "pod-x", readOnly: true) }
        #expect(ro?.code == .inUse && ro?.message.contains("read-write") == true)
        // Nor a read-only attach by a read-write one.
        let roSpec = VolumeSpec(name: "data", source: LoopVolumeSource(imageFile: image), readOnly: true)
        let attach = #expect(throws: VolumeError.self) { try plugin.attach(roSpec) }
        #expect(attach?.code == .inUse)
        // The global mount is nodev,nosuid, and so is every bind of it.
        let global = try #require(try mountinfoLines(at: plugin.globalPath(key: "loop-disk.img")).first)
        #expect(global.contains("nodev") && global.contains("nosuid"))
    }

    @Test func aFailedMapLeavesNoJournalAndNoDirectory() throws {
        let missing = VolumeSpec(name: "data", source: LoopVolumeSource(imageFile: dir("no-such.img")))
        let error = #expect(throws: VolumeError.self) { try plugin.attach(missing) }
        #expect(error?.code == .device)
        #expect(plugin.journal.keys().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: plugin.globalPath(key: "loop-no-such.img").string))
    }

    @Test func setUpNeedsAnAttachedVolume() throws {
        let error = #expect(throws: VolumeError.self) { try plugin.setUp(spec, podUID: "p") }
        #expect(error?.code == .notAttached && error?.message.contains("is not mounted at") == true)
        #expect(throws: VolumeError.self) { try plugin.setUp(spec, podUID: "../escape") }
    }

    @Test func readOnlyVolumeOnABlankDeviceIsNeverFormattedAndLeavesNothing() throws {
        let roSpec = VolumeSpec(name: "data", source: LoopVolumeSource(imageFile: image), readOnly: true)
        let error = #expect(throws: VolumeError.self) { try plugin.attach(roSpec) }
        #expect(error?.code == .mount)
        #expect(try loopDevices().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: journalFile))
    }

    @Test func interruptedAttachesConverge() throws {
        // 1. Crashed right after the map: a device and a journal in phase "mapped", nothing mounted.
        let device = try plugin.provider.attach(LoopVolumeSource(imageFile: image), readOnly: false)
        var record = JournalRecord<LoopIdentity>(
            plugin: plugin.name, key: "loop-disk.img", fsType: "ext4", readOnly: false)
        record.identity = device.identity
        record.devicePath = device.path.string
        record.phase = .mapped
        try plugin.journal.save(record)
        let findings = try plugin.reconcile()
        #expect(findings.map(\.kind) == [.mappedNotMounted])
        let resumed = try plugin.attach(spec)
        #expect(resumed.changed && resumed.devicePath == device.path)
        #expect(try loopDevices().count == 1)
        #expect(try plugin.journal.load("loop-disk.img")?.phase == .mounted)
        #expect(try plugin.reconcile().map(\.kind) == [.consistent])

        // 2. Crashed in the middle of a detach: unmounted, journal says detaching, device still there.
        _ = umount(resumed.globalPath.string)
        record = try #require(try plugin.journal.load("loop-disk.img"))
        record.phase = .detaching
        try plugin.journal.save(record)
        let repaired = try plugin.reconcile(repair: true)
        #expect(repaired.map(\.kind) == [.interrupted] && repaired.allSatisfy(\.repaired))
        #expect(try loopDevices().isEmpty)
        #expect(try plugin.journal.load("loop-disk.img") == nil)

        // 3. A journal whose device vanished is dropped by a repair.
        record.phase = .mounted
        try plugin.journal.save(record)
        #expect(try plugin.reconcile(repair: true).map(\.kind) == [.journalWithoutDevice])
        #expect(plugin.journal.keys().isEmpty)
    }

    @Test func attachRecordsEachPhaseAndADetachInterruptedAfterItsUnmountIsFinished() throws {
        // attach of a blank device writes the journal four times: `attaching` before the map,
        // `mapped` with the identity, `formatting` right before mkfs, `mounted`.
        let attached = try MockingDriver.with { driver in
            let attached = try plugin.attach(spec)
            #expect(driver.calls("renameat", pathContains: "journal").count == 4)
            return attached
        }
        let record = try #require(try plugin.journal.load("loop-disk.img"))
        #expect(record.phase == .mounted && record.identity != nil && record.devicePath == attached.devicePath.string)

        // A detach killed right after its unmount: the record still says mounted.
        _ = umount(attached.globalPath.string)
        #expect(try plugin.reconcile().map(\.kind) == [.mappedNotMounted])
        try MockingDriver.with { driver in
            try plugin.detach(spec)
            #expect(driver.calls("renameat", pathContains: "journal").isEmpty, "detach writes no journal record")
        }
        #expect(try loopDevices().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: journalFile))
        #expect(!FileManager.default.fileExists(atPath: attached.globalPath.string))
    }

    @Test func concurrentAttachesOfOneVolumeAreSerialized() async throws {
        let plugin = self.plugin
        let spec = self.spec
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<3 { group.addTask { try plugin.attach(spec).changed } }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        #expect(try loopDevices().count == 1)
        try plugin.detach(spec)
    }
}
