// Issue 11, unit tier: input rules (mount options, names, filesystem types), checks before any
// kernel write, status of an interrupted attach, and per-volume lock files that do not pile up.
import Foundation
import Synchronization
import SystemPackage
import Testing

@testable import BlockMount
@testable import KRBD
@testable import LinuxSystem
@testable import RBDVolume

@Suite struct MountOptionRulesTests {
    @Test(arguments: [
        "noatime", "noatime,discard", "data=ordered,errors=remount-ro", #"context="system_u:object_r:tmp_t:s0,c1""#,
        "x-systemd.automount", "commit=30", "_netdev,noatime", #"context="a",noatime"#,
    ])
    func wellFormedOptionsPass(_ options: String) throws {
        try MountOptions.validate(options)
        _ = try MountOptions(options)
    }

    @Test(arguments: [
        #"context="system_u:object_r:tmp_t"#,  // the issue's case: the quote swallows what follows
        "noatime,", ",noatime", "noatime,,discard", "no atime", "noatime\nnodev", "noatime\u{7f}", #"a="b"c"#,
        #"a=b"c"#, "=x", "-", "noatime\t",
    ])
    func malformedOptionsAreRefused(_ options: String) {
        let error = #expect(throws: MountError.self) { try MountOptions(options) }
        #expect(error?.code == .invalidOptions)
        #expect(error?.message.contains("\n") == false)
    }

    @Test func nodevAndNosuidAreFlagsUnlessAskedOff() {
        typealias Plugin = BlockVolumePlugin<LoopVolumeProvider>
        let both = UInt(MS_NODEV) | UInt(MS_NOSUID)
        #expect(Plugin.requiredMountFlags([]) == both)
        #expect(Plugin.requiredMountFlags([#"context="a""#]) == both)
        #expect(Plugin.requiredMountFlags(["noatime,dev"]) == UInt(MS_NOSUID))
        #expect(Plugin.requiredMountFlags(["suid", "dev"]) == 0)
        // Never appended as text: the user's string goes to mount(2) as it is.
        #expect(Plugin.userMountOptions(["noatime", "discard"]) == "noatime,discard")
    }
}

@Suite struct NameRulesTests {
    @Test(arguments: ["data", "d", "vol-1", "a0", String(repeating: "a", count: 63)])
    func volumeNamesThatPass(_ name: String) throws { try VolumeNames.validateVolumeName(name) }

    @Test(arguments: [
        "", "Data", "-a", "a-", "a b", "a\tb", "a\nb", "..", "a/b", "a_b", String(repeating: "a", count: 64),
    ])
    func volumeNamesThatFail(_ name: String) {
        let error = #expect(throws: VolumeError.self) { try VolumeNames.validateVolumeName(name) }
        #expect(error?.code == .invalidArgument && error?.message.contains("\n") == false)
    }

    @Test(arguments: ["6f1c2c5e-3b6b-4a0e-9c44-2a1d5e0f7a11", "0b9c3f8a41d2e6f7a8b9c0d1e2f3a4b5", "p1", "writer-pod"])
    func podUIDsThatPass(_ uid: String) throws { try VolumeNames.validatePodUID(uid) }

    @Test(arguments: ["", "a b", "a\nb", "\t", "..", ".", "a/b", "-x", "é", String(repeating: "a", count: 65)])
    func podUIDsThatFail(_ uid: String) {
        let error = #expect(throws: VolumeError.self) { try VolumeNames.validatePodUID(uid) }
        #expect(error?.code == .invalidArgument && error?.message.contains("\n") == false)
    }
}

/// attach refuses what it can before anything is written to the kernel (issue 11.3).
@Suite struct AttachChecksFirstTests {
    let image = try! ImageSpec(pool: "rbd", image: "img")

    func attach(_ change: (inout VolumeSpec) -> Void) throws -> (VolumeError?, [String], [String]) {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        return try MockingDriver.with { driver in
            fake.install(driver)
            let plugin = RBDPlugin(bus: fake.bus(), lockTimeout: .seconds(5))
            try plugin.initialize(host: VolumeHost(rootDirectory: dir("node"), proc: fake.proc))
            var spec = VolumeSpec(
                name: "data",
                source: RBDVolumeSource(image: image, monitors: [localMonitor], credentials: try adminCredentials()))
            change(&spec)
            let error = #expect(throws: VolumeError.self) { try plugin.attach(spec) }
            return (error, driver.addWrites(), plugin.journal.keys())
        }
    }

    @Test func badFilesystemTypeMountOptionsOrMapOptionsWriteNothing() throws {
        var badQueue = MapOptions()
        badQueue.queueDepth = 0
        let changes: [(String, (inout VolumeSpec) -> Void)] = [
            ("fs type", { $0.fsType = "../x" }),
            ("fs type", { $0.fsType = "ext4 -b 1024" }),
            ("mount options", { $0.mountOptions = [#"context="system_u:object_r:tmp_t"#] }),
            ("mount options", { $0.mountOptions = ["noatime\nnodev"] }),
            (
                "map options",
                {
                    var source = $0.source as! RBDVolumeSource
                    source.options = badQueue
                    $0.source = source
                }
            ),
        ]
        for (what, change) in changes {
            let (error, writes, journal) = try attach(change)
            #expect(error?.code == .invalidArgument, "\(what): \(String(describing: error))")
            #expect(writes.isEmpty, "\(what): nothing may reach the kernel")
            #expect(journal.isEmpty, "\(what): no journal record")
            #expect(error?.message.contains(testKey) == false)
        }
    }

    @Test func statusSeesTheMappingOfAnInterruptedAttach() throws {
        // An attach killed right after its map: the record has no identity yet, the kernel has
        // the mapping. status must say mapped (it said false).
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            let plugin = RBDPlugin(bus: fake.bus(), lockTimeout: .seconds(5))
            try plugin.initialize(host: VolumeHost(rootDirectory: dir("node"), proc: fake.proc))
            let key = plugin.provider.volumeKey(
                RBDVolumeSource(image: image, monitors: [localMonitor], credentials: try adminCredentials()))
            try plugin.journal.save(JournalRecord(plugin: plugin.name, key: key, fsType: "ext4", readOnly: false))
            #expect(try plugin.status().first?.deviceAttached == false)
            fake.addDevice(image: "img")
            let status = try #require(try plugin.status().first)
            #expect(
                status.phase == .attaching && status.deviceAttached
                    && status.devicePath == fake.dev.appending("rbd0").string)
        }
    }
}

@Suite struct VolumeLockFileTests {
    @Test func lockFilesAreRemovedAndStillExclusive() throws {
        let dir = try TemporaryDirectory()
        let path = dir("v.lock")
        try FileLock.withLock(path, timeout: .seconds(1), removingFile: true) { () throws in
            #expect(FileManager.default.fileExists(atPath: path.string))
        }
        #expect(!FileManager.default.fileExists(atPath: path.string), "the lock file does not pile up")
        // Many holders racing on a file that each removes: never two inside at once.
        let inside = Atomic<Int>(0)
        let overlaps = Atomic<Int>(0)
        let entries = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<100 {
                try? FileLock.withLock(path, timeout: .seconds(20), removingFile: true) { () throws in
                    if inside.add(1, ordering: .sequentiallyConsistent).newValue != 1 {
                        overlaps.add(1, ordering: .relaxed)
                    }
                    entries.add(1, ordering: .relaxed)
                    inside.subtract(1, ordering: .sequentiallyConsistent)
                }
            }
        }
        #expect(entries.load(ordering: .relaxed) == 400)
        #expect(overlaps.load(ordering: .relaxed) == 0)
        #expect(!FileManager.default.fileExists(atPath: path.string))
    }
}
