// Issue 11 on the loop tier (root, real loop devices, real mount(2)): an interrupted mkfs is
// resumed only on the same mapping, a failed rollback leaves a record that detach completes,
// and the global mount and its binds carry nodev,nosuid as flags whatever the options say.
import Foundation
import Synchronization
import SystemPackage
import Testing

@testable import BlockMount
@testable import LinuxSystem
@testable import RBDVolume

/// The loop provider with a detach that fails while `failures` > 0 (a device held open).
final class FlakyDetachProvider: BlockDeviceProvider, @unchecked Sendable {
    let inner = LoopVolumeProvider()
    let failures = Mutex(0)
    func volumeKey(_ source: LoopVolumeSource) -> String { inner.volumeKey(source) }
    func validate(_ source: LoopVolumeSource) throws(ToolFailure) {}
    func existingDevice(_ source: LoopVolumeSource, readOnly: Bool) throws(ToolFailure) -> AttachedDevice<LoopIdentity>?
    {
        try inner.existingDevice(source, readOnly: readOnly)
    }
    func attachedDevices(forKey key: String) throws(ToolFailure) -> [AttachedDevice<LoopIdentity>] { [] }
    func attach(_ source: LoopVolumeSource, readOnly: Bool) throws(ToolFailure) -> AttachedDevice<LoopIdentity> {
        try inner.attach(source, readOnly: readOnly)
    }
    func isAttached(_ identity: LoopIdentity) throws(ToolFailure) -> Bool { try inner.isAttached(identity) }
    func detach(_ identity: LoopIdentity) throws(ToolFailure) {
        let fail = failures.withLock { count -> Bool in
            defer { count = max(0, count - 1) }
            return count > 0
        }
        if fail {
            throw ToolFailure(command: "losetup -d \(identity.device)", status: 16, output: "Device or resource busy")
        }
        try inner.detach(identity)
    }
}

@Suite(.serialized, .privileged) final class LifecycleHardeningTests {
    let dir: TemporaryDirectory
    let provider = FlakyDetachProvider()
    let plugin: BlockVolumePlugin<FlakyDetachProvider>
    let spec: VolumeSpec
    let image: FilePath

    init() throws {
        dir = try TemporaryDirectory("krbd-hard")
        image = try sparseFile(dir("disk.img"), mebibytes: 64)
        plugin = BlockVolumePlugin(name: "example.com/loop", provider: provider, lockTimeout: .seconds(5))
        try VolumePluginManager().initPlugins([plugin], host: VolumeHost(rootDirectory: dir("node")))
        spec = VolumeSpec(name: "data", source: LoopVolumeSource(imageFile: image))
    }

    deinit { cleanUpLoopTest(dir) }  // whatever a failing test left

    var key: String { "loop-disk.img" }

    /// What an mkfs.ext4 killed before its last step leaves: group descriptors and tables, no
    /// superblock (it is written last).
    func interruptedMkfs(on device: FilePath) throws {
        try sh("mkfs.ext4 -q -F '\(device)' && dd if=/dev/zero of='\(device)' bs=4096 count=1 conv=notrunc status=none")
        if case .nonZeroData = try BlockProbe.probe(device).result {
        } else {
            Issue.record("the fixture must read as data without a signature")
        }
    }

    func formattingRecord(_ device: AttachedDevice<LoopIdentity>) -> JournalRecord<LoopIdentity> {
        var record = JournalRecord<LoopIdentity>(plugin: plugin.name, key: key, fsType: "ext4", readOnly: false)
        record.identity = device.identity
        record.devicePath = device.path.string
        record.device = device.device
        record.phase = .formatting
        return record
    }

    @Test func anInterruptedMkfsIsFormattedAgainOnTheSameMapping() throws {
        let device = try provider.attach(spec.source as! LoopVolumeSource, readOnly: false)
        try interruptedMkfs(on: device.path)
        try plugin.journal.save(formattingRecord(device))
        let attached = try plugin.attach(spec)
        #expect(attached.formatted && attached.fsType == "ext4" && attached.devicePath == device.path)
        #expect(try plugin.journal.load(key)?.phase == .mounted)
        try plugin.detach(spec)
        #expect(try plugin.journal.load(key) == nil)
    }

    @Test func dataWithoutSignatureIsRefusedOtherwiseNamingWhatWasFound() throws {
        let device = try provider.attach(spec.source as! LoopVolumeSource, readOnly: false)
        try interruptedMkfs(on: device.path)
        // No record (another node's half-made filesystem, or anything else): never formatted.
        // And a `formatting` record of another mapping proves nothing about this one.
        var otherMapping = formattingRecord(device)
        otherMapping.identity?.device = "/dev/loop999"
        for record in [nil, otherMapping] {
            if let record { try plugin.journal.save(record) }
            let error = #expect(throws: VolumeError.self) { try plugin.attach(spec) }
            let cause: MountError? = if case .mount(let cause)? = error?.cause { cause } else { nil }
            #expect(cause?.code == .unknownData, "\(String(describing: error))")
            #expect(error?.message.contains("is not zero") == true && error?.message.contains("conflicting") == false)
            if case .nonZeroData = try BlockProbe.probe(device.path).result {
            } else {
                Issue.record("the device was written")
            }
            _ = try? provider.inner.attach(spec.source as! LoopVolumeSource, readOnly: false)
        }
    }

    @Test func aRollbackThatCannotDetachLeavesARecordThatDetachCompletes() throws {
        // mount(2) refuses the option (after the map and mkfs), and the rollback's detach fails.
        var refused = spec
        refused.mountOptions = ["data=bogus"]
        provider.failures.withLock { $0 = 1 }
        let error = #expect(throws: VolumeError.self) { try plugin.attach(refused) }
        #expect(error?.message.contains("stays recorded in the journal") == true, "\(String(describing: error))")
        let record = try #require(try plugin.journal.load(key), "the mapping must stay tracked")
        #expect(record.identity != nil)
        let status = try #require(try plugin.status().first)
        #expect(status.deviceAttached && !status.globalMounted)
        // detach completes it (the device is free now)...
        try plugin.detach(refused)
        #expect(try plugin.journal.load(key) == nil)
        #expect(try sh("losetup -j '\(image)'").isEmpty)

        // ...and so does reconcile --repair.
        provider.failures.withLock { $0 = 1 }
        #expect(throws: VolumeError.self) { try plugin.attach(refused) }
        let findings = try plugin.reconcile(repair: true)
        #expect(findings.map(\.kind) == [.mappedNotMounted] && findings.allSatisfy(\.repaired), "\(findings)")
        #expect(try plugin.journal.load(key) == nil)
        #expect(try sh("losetup -j '\(image)'").isEmpty)
    }

    @Test func theGlobalMountAndItsBindsCarryNodevNosuid() throws {
        func flags(_ path: FilePath) -> UInt {
            var vfs = statvfs()
            return statvfs(path.string, &vfs) == 0 ? UInt(vfs.f_flag) : 0
        }
        let both = UInt(MS_NODEV) | UInt(MS_NOSUID)  // statvfs reports ST_* with the MS_* values
        // The issue's case: an unbalanced quote is refused before anything is attached.
        var malformed = spec
        malformed.mountOptions = [#"context="system_u:object_r:tmp_t"#]
        let error = #expect(throws: VolumeError.self) { try plugin.attach(malformed) }
        #expect(error?.code == .invalidArgument)
        #expect(try sh("losetup -j '\(image)'").isEmpty, "nothing attached for a malformed option")

        var noatime = spec
        noatime.mountOptions = ["noatime"]
        let attached = try plugin.attach(noatime)
        #expect(flags(attached.globalPath) & both == both)
        let set = try plugin.setUp(noatime, podUID: "pod-a")
        let readOnly = try plugin.setUp(noatime, podUID: "pod-b", readOnly: true)
        #expect(flags(set.path) & both == both && flags(readOnly.path) & both == both)
        #expect(flags(readOnly.path) & UInt(MS_RDONLY) != 0)
        try plugin.tearDown(noatime, podUID: "pod-a")
        try plugin.tearDown(noatime, podUID: "pod-b")
        try plugin.detach(noatime)
    }
}
