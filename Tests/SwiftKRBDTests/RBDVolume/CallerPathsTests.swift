import Foundation
import SystemPackage
import Testing

@testable import BlockMount
@testable import LinuxSystem
@testable import RBDVolume

/// The rules of caller-given keys and arguments (no root).
@Suite struct CallerKeyTests {
    @Test func keysOfVolumeIDsAreOnePathComponent() throws {
        #expect(VolumeNames.key(forVolumeID: "pv-1") == "v~pv-1")
        #expect(
            VolumeNames.key(forVolumeID: "0001-0009-rook-ceph-00000002-4a2b") == "v~0001-0009-rook-ceph-00000002-4a2b")
        #expect(VolumeNames.key(forVolumeID: "a/b c") == "v~a%2Fb%20c")
        #expect(VolumeNames.key(forVolumeID: "..") == "v~..")
        #expect(VolumeNames.key(forVolumeID: "é") == "v~%C3%A9")
        // Distinct ids, distinct keys (the escape is reversible: `%` itself is escaped).
        #expect(VolumeNames.key(forVolumeID: "%2F") != VolumeNames.key(forVolumeID: "/"))
        let long = String(repeating: "x", count: 199)
        let hashed = VolumeNames.key(forVolumeID: long)
        #expect(hashed.hasPrefix("v~h") && hashed.utf8.count == 35)
        #expect(hashed != VolumeNames.key(forVolumeID: long + "y"))
        #expect(VolumeNames.key(forVolumeID: String(repeating: "x", count: 198)).utf8.count == 200)
        for id in ["pv-1", "a/b", "..", long, "\u{0}", "\n"] {
            try VolumeNames.validateKey(VolumeNames.key(forVolumeID: id))
        }
    }

    @Test(arguments: ["", ".", "..", ".hidden", "a/b", "a\u{0}b", String(repeating: "k", count: 201)])
    func badKeysAreRefused(_ key: String) {
        #expect(throws: VolumeError.self) { try VolumeNames.validateKey(key) }
    }

    @Test(arguments: [
        ["-m0", "-E", "nodiscard"], ["-L", "data"], ["-O^has_journal"],
    ])
    func formatOptionsThatAreOptions(_ options: [String]) throws {
        try FilesystemFormatter.validateFormatOptions(options)
    }

    @Test(arguments: [["/dev/sda"], ["--"], [""], ["-L", "a b"], ["-E\u{7}"]])
    func formatOptionsThatNameAnotherDevice(_ options: [String]) {
        #expect(throws: MountError.self) { try FilesystemFormatter.validateFormatOptions(options) }
    }
}

/// VolumeTurns: one at a time per key, in order, ended by a deadline or a cancellation (no root).
@Suite struct VolumeTurnsTests {
    actor Trace {
        var events: [String] = []
        func add(_ event: String) { events.append(event) }
    }

    @Test func oneAtATimePerKeyOthersInParallel() async throws {
        let turns = VolumeTurns()
        let trace = Trace()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<4 {
                group.addTask {
                    try await turns.run("a", deadline: nil) { () async throws(VolumeError) in
                        await trace.add("in \(i)")
                        try? await Task.sleep(for: .milliseconds(20))
                        await trace.add("out \(i)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let events = await trace.events
        #expect(events.count == 8)
        // Never two inside: every "in" is followed by its own "out".
        for pair in stride(from: 0, to: events.count, by: 2) {
            #expect(events[pair].dropFirst(3) == events[pair + 1].dropFirst(4))
        }
        // Another key does not wait for "a".
        let started = ContinuousClock.now
        async let slow: Void = turns.run("a", deadline: nil) { () async throws(VolumeError) in
            try? await Task.sleep(for: .milliseconds(300))
        }
        try await Task.sleep(for: .milliseconds(20))
        try await turns.run("b", deadline: nil) { () async throws(VolumeError) in }
        #expect(ContinuousClock.now - started < .milliseconds(250))
        try await slow
    }

    @Test func aDeadlineEndsTheWaitNotTheHolder() async throws {
        let turns = VolumeTurns()
        let holder = Task {
            try await turns.run("k", deadline: nil) { () async throws(VolumeError) in
                try? await Task.sleep(for: .milliseconds(400))
                return "held"
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        do {
            try await turns.run("k", deadline: .now + .milliseconds(50)) { () async throws(VolumeError) -> Void in
                Issue.record("ran although the holder still had the turn")
            }
            Issue.record("no lockTimeout")
        } catch {
            #expect(error.code == .lockTimeout)
            #expect(error.message.contains("deadline"))
        }
        #expect(try await holder.value == "held")
        // The turn passed on properly: the key is free again.
        #expect(try await turns.run("k", deadline: .now + .milliseconds(50)) { () async throws(VolumeError) in 7 } == 7)
    }

    @Test func cancellingAWaiterEndsItWithNothingDone() async throws {
        let turns = VolumeTurns()
        let holder = Task {
            try await turns.run("k", deadline: nil) { () async throws(VolumeError) in
                try? await Task.sleep(for: .milliseconds(300))
            }
        }
        try await Task.sleep(for: .milliseconds(30))
        let waiter = Task {
            try await turns.run("k", deadline: nil) { () async throws(VolumeError) in "ran" }
        }
        try await Task.sleep(for: .milliseconds(30))
        waiter.cancel()
        do {
            _ = try await waiter.value
            Issue.record("the cancelled waiter ran")
        } catch let error as VolumeError {
            #expect(error.code == .cancelled)
        }
        try await holder.value
        #expect(try await turns.run("k", deadline: nil) { () async throws(VolumeError) in 1 } == 1)
    }
}

/// The CSI shape of the lifecycle on real loop devices and mounts: a key from the volume id, the
/// caller's staging and target paths, the async entry points (root + KRBD_PRIVILEGED_TESTS=1).
@Suite(.serialized, .privileged) final class CallerPathsPrivilegedTests {
    let dir: TemporaryDirectory
    let plugin: BlockVolumePlugin<LoopVolumeProvider>
    let spec: VolumeSpec
    let image: FilePath
    let key = VolumeNames.key(forVolumeID: "0001-0009-rook-ceph-0000000000000002-4a2b6c1e")

    init() throws {
        dir = try TemporaryDirectory("krbd-csi-paths")
        image = try sparseFile(dir("disk.img"), mebibytes: 64)
        plugin = BlockVolumePlugin(name: "example.com/loop", provider: LoopVolumeProvider(), lockTimeout: .seconds(5))
        try plugin.initialize(host: VolumeHost(rootDirectory: dir("node")))
        spec = VolumeSpec(name: "csi", source: LoopVolumeSource(imageFile: image))
    }

    deinit { cleanUpLoopTest(dir) }  // whatever a failing test left

    var staging: FilePath { dir("kubelet/plugins/kubernetes.io/csi/x/globalmount") }

    func isMountPoint(_ path: FilePath) throws -> Bool { try Mounter().isMountPoint(path) }

    @Test func stagePublishUnpublishUnstageAtTheCallersPaths() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        let attached = try await plugin.attach(spec, key: key, at: staging, deadline: deadline)
        #expect(attached.changed && attached.formatted && attached.globalPath == staging)
        #expect(try isMountPoint(staging))
        #expect(!(try await plugin.attach(spec, key: key, at: staging, deadline: deadline)).changed)
        let record = try #require(try await plugin.record(key: key))
        #expect(record.globalPath == staging.string && record.sourceKey == "loop-disk.img" && record.phase == .mounted)
        // Nothing in the plugin's own mounts directory: the caller's path is the mount.
        #expect(!FileManager.default.fileExists(atPath: plugin.globalPath(key: key).string))

        let target = dir("kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount")
        let set = try await plugin.setUp(key: key, at: staging, target: target, readOnly: true, deadline: deadline)
        #expect(set.changed && set.readOnly)
        #expect(
            !(try await plugin.setUp(key: key, at: staging, target: target, readOnly: true, deadline: deadline)).changed
        )
        let stats = try await plugin.stats(key: key, at: target)
        #expect((stats.usage?.totalBytes ?? 0) > 50 << 20 && stats.usage?.readOnly == true && !stats.condition.abnormal)

        // Another source under the same key, another path, another mode: refused, nothing changed.
        let (plugin, spec, key, staging, elsewhere) = (plugin, spec, key, staging, dir("elsewhere"))
        let other = VolumeSpec(name: "csi", source: LoopVolumeSource(imageFile: dir("other.img")))
        await #expect(throws: VolumeError.self) {
            try await plugin.attach(other, key: key, at: staging, deadline: deadline)
        }
        await #expect(throws: VolumeError.self) {
            try await plugin.attach(spec, key: key, at: elsewhere, deadline: deadline)
        }
        // Unstage while published: refused.
        do {
            try await plugin.detach(key: key, at: staging, deadline: deadline)
            Issue.record("detached while published")
        } catch {
            #expect(error.code == .inUse)
        }
        #expect(try await plugin.tearDown(key: key, target: target, deadline: deadline).changed)
        #expect(!(try await plugin.tearDown(key: key, target: target, deadline: deadline).changed))
        #expect(!FileManager.default.fileExists(atPath: target.string))
        #expect(try await plugin.detach(key: key, at: staging, deadline: deadline).changed)
        #expect(!(try await plugin.detach(key: key, at: staging, deadline: deadline).changed))
        #expect(try !isMountPoint(staging))
        #expect(try sh("losetup -j '\(image)'").isEmpty)
        #expect(try await plugin.record(key: key) == nil)
    }

    /// kubelet after a reboot (ceph-csi #4762, #1798): the staging directory is there and empty.
    /// Publishing must refuse it, or the workload writes to the node's disk.
    @Test func anUnmountedStagingDirectoryIsNeverBound() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        _ = try await plugin.attach(spec, key: key, at: staging, deadline: deadline)
        #expect(umount2(staging.string, 0) == 0)
        let target = dir("kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount")
        do {
            _ = try await plugin.setUp(key: key, at: staging, target: target, deadline: deadline)
            Issue.record("an empty staging directory was bound")
        } catch {
            #expect(error.code == .notAttached)
            #expect(error.message.contains("not mounted at \(staging)"))
        }
        #expect(!FileManager.default.fileExists(atPath: target.string))
        // Something else mounted there (a tmpfs): not this volume's device, refused too.
        #expect(mount("tmpfs", staging.string, "tmpfs", 0, nil) == 0)
        do {
            _ = try await plugin.setUp(key: key, at: staging, target: target, deadline: deadline)
            Issue.record("another filesystem at the staging path was bound")
        } catch {
            #expect(error.code == .notAttached)
            #expect(error.message.contains("not volume"))
        }
        #expect(umount2(staging.string, 0) == 0)
        // Staged again, it publishes.
        _ = try await plugin.attach(spec, key: key, at: staging, deadline: deadline)
        #expect(try await plugin.setUp(key: key, at: staging, target: target, deadline: deadline).changed)
        try await plugin.tearDown(key: key, target: target, deadline: deadline)
        try await plugin.detach(key: key, at: staging, deadline: deadline)
        #expect(try sh("losetup -j '\(image)'").isEmpty)
    }

    /// Eight attaches of one volume at once through the async API: one device, one mount, all
    /// succeed (they wait for their turn instead of failing fast).
    @Test func concurrentStagesOfOneVolumeWaitTheirTurn() async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        let (plugin, spec, key, staging) = (plugin, spec, key, staging)
        let results = try await withThrowingTaskGroup(of: AttachResult.self) { group in
            for _ in 0..<8 {
                group.addTask { try await plugin.attach(spec, key: key, at: staging, deadline: deadline) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter(\.changed).count == 1)
        #expect(Set(results.map(\.devicePath)).count == 1)
        #expect(try sh("losetup -j '\(image)'").split(separator: "\n").count == 1)
        try await plugin.detach(key: key, at: staging, deadline: deadline)
    }

    /// A volume that must not be formatted (a CSI static volume) on a blank device: refused,
    /// nothing written, nothing left attached.
    @Test func aVolumeThatMayNotBeFormattedRefusesABlankDevice() throws {
        var spec = spec
        spec.mayFormat = false
        do {
            try plugin.attach(spec, key: key, at: staging)
            Issue.record("attached")
        } catch {
            #expect(error.code == .refusedFormat)
            #expect(error.message.contains("never formatted"))
        }
        #expect(try sh("losetup -j '\(image)'").isEmpty)
        #expect(try plugin.journal.load(key) == nil)
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: image.string)).readData(ofLength: 1 << 20)
        #expect(head.allSatisfy { $0 == 0 })
    }

    /// expand after the device grew (a loop device re-read with `losetup -c`, as rbd re-reads a
    /// resized image's header): xfs_growfs online; a second expand finds nothing to do; a size
    /// the device does not have is refused after the wait, naming both sizes. (xfs here: growing a
    /// mounted ext4 needs CAP_SYS_RESOURCE, which this host's root lacks; the VM tier grows ext4.)
    @Test func expandGrowsTheFilesystemOnline() throws {
        let big = try sparseFile(dir("xfs.img"), mebibytes: 320)  // mkfs.xfs wants 300 MiB at least
        var spec = VolumeSpec(name: "csi", source: LoopVolumeSource(imageFile: big), fsType: "xfs")
        spec.mountOptions = ["nouuid"]
        let attached = try plugin.attach(spec, key: key, at: staging)
        let before = try plugin.usage(at: staging).totalBytes
        #expect(truncate(big.string, 512 << 20) == 0)
        _ = try sh("losetup -c '\(attached.devicePath)'")
        let grown = try plugin.expand(key: key, requiredBytes: 512 << 20)
        #expect(grown.deviceBytes == 512 << 20)
        #expect((grown.filesystemBytes ?? 0) > before * 3 / 2, "\(before) → \(grown.filesystemBytes ?? 0)")
        #expect(grown.timings.phases.map(\.name) == ["size", "resize"])
        #expect(try plugin.expand(key: key).filesystemBytes == grown.filesystemBytes)
        do {
            try plugin.expand(key: key, requiredBytes: 1 << 30, sizeWait: .milliseconds(200))
            Issue.record("expanded past the device")
        } catch {
            #expect(error.code == .device && error.message.contains("less than"))
        }
        try plugin.detach(key: key, at: staging)
        #expect(try sh("losetup -j '\(big)'").isEmpty)
    }

    /// Block access (CSI's block volumes): the device node bound onto `<staging>/device` and onto
    /// the target file, never probed or formatted; data written through the target reaches the
    /// device; stats give its size; another access mode, a lost bind, or unstage while published
    /// are refused; unpublish and unstage leave no file, mount or device behind.
    @Test func aBlockVolumeIsTheDeviceBoundOntoFiles() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var blockSpec = spec
        blockSpec.access = .block
        let attached = try await plugin.attach(blockSpec, key: key, at: staging, deadline: deadline)
        #expect(attached.changed && !attached.formatted && attached.fsType == nil)
        let file = staging.appending("device")
        #expect(try isMountPoint(file))
        let node = try #require(try Files.status(attached.devicePath, followSymlinks: true))
        let bound = try #require(try Files.status(file))
        #expect(bound.st_mode & S_IFMT == S_IFBLK && bound.st_rdev == node.st_rdev)
        #expect(!(try await plugin.attach(blockSpec, key: key, at: staging, deadline: deadline)).changed)
        #expect(try await plugin.record(key: key)?.access == .block)
        // Never formatted: the image is still all zeros.
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: image.string)).readData(ofLength: 1 << 20)
        #expect(head.allSatisfy { $0 == 0 })

        // Staged as block: a filesystem stage or publish of the same key is refused.
        let (plugin, spec, key, staging) = (plugin, spec, key, staging)
        do {
            _ = try await plugin.attach(spec, key: key, at: staging, deadline: deadline)
            Issue.record("a block volume was attached as a filesystem")
        } catch {
            #expect(error.code == .inUse && error.message.contains("as a block volume"), "\(error.message)")
        }
        let target = dir("kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pv/pod-1")
        do {
            _ = try await plugin.setUp(key: key, at: staging, target: target, access: .filesystem, deadline: deadline)
            Issue.record("a block volume was published as a filesystem")
        } catch {
            #expect(error.code == .inUse)
        }
        let published = try await plugin.setUp(
            key: key, at: staging, target: target, access: .block, deadline: deadline)
        #expect(published.changed)
        #expect(
            !(try await plugin.setUp(key: key, at: staging, target: target, access: .block, deadline: deadline)).changed
        )
        let pattern = Data("krbd block volume\n".utf8)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: target.string))
        try handle.write(contentsOf: pattern)
        try handle.synchronize()
        try handle.close()
        let written = try FileHandle(forReadingFrom: URL(fileURLWithPath: image.string)).readData(
            ofLength: pattern.count)
        #expect(written == pattern)
        let readOnlyTarget = dir("kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pv/pod-2")
        #expect(
            try await plugin.setUp(key: key, at: staging, target: readOnlyTarget, readOnly: true, deadline: deadline)
                .readOnly)

        let stats = try await plugin.stats(key: key, at: target)
        #expect(stats.usage == nil && stats.deviceBytes == 64 << 20 && !stats.condition.abnormal, "\(stats)")
        await #expect(throws: VolumeError.self) { try await plugin.stats(key: key, at: staging) }
        #expect(try plugin.expand(key: key).filesystemBytes == nil)
        do {
            try await plugin.detach(key: key, at: staging, deadline: deadline)
            Issue.record("unstaged while published")
        } catch {
            #expect(error.code == .inUse && error.message.contains(target.string), "\(error.message)")
        }
        try await plugin.tearDown(key: key, target: target, deadline: deadline)
        try await plugin.tearDown(key: key, target: readOnlyTarget, deadline: deadline)
        #expect(!FileManager.default.fileExists(atPath: target.string))

        // A lost bind (a reboot leaves the empty file): publish refuses it.
        #expect(umount2(file.string, 0) == 0)
        do {
            _ = try await plugin.setUp(key: key, at: staging, target: target, deadline: deadline)
            Issue.record("an empty device file was bound")
        } catch {
            #expect(error.code == .notAttached)
        }
        #expect(!FileManager.default.fileExists(atPath: target.string))
        // Staged again, the bind is back.
        #expect(!(try await plugin.attach(blockSpec, key: key, at: staging, deadline: deadline)).formatted)
        #expect(try isMountPoint(file))
        try await plugin.detach(key: key, at: staging, deadline: deadline)
        try await plugin.detach(key: key, at: staging, deadline: deadline)
        #expect(!FileManager.default.fileExists(atPath: staging.string))
        #expect(try sh("losetup -j '\(image)'").isEmpty)
        #expect(try await plugin.record(key: key) == nil)
    }

    /// Block volumes take no mount or format options.
    @Test func aBlockVolumeWithMountOptionsIsRefusedBeforeAttaching() throws {
        var blockSpec = spec
        blockSpec.access = .block
        blockSpec.mountOptions = ["noatime"]
        #expect(throws: VolumeError.self) { try plugin.attach(blockSpec, key: key, at: staging) }
        #expect(try sh("losetup -j '\(image)'").isEmpty)
    }
}
