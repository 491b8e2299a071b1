import Foundation
import SystemPackage
import Testing

@testable import LinuxSystem
@testable import RBDVolume

private struct FakeIdentity: Codable, Sendable, Equatable {
    var device: Int
    var fsid: String
}

@Suite struct JournalTests {
    /// The record's bytes are fsync'd before the rename (never a malformed journal); the rename
    /// and the removal are not (what a power loss could undo, it also unmaps and unmounts).
    @Test func contentIsSyncedBeforeTheRenameAndNothingElseIs() throws {
        let dir = try TemporaryDirectory()
        let journal = Journal<FakeIdentity>(directory: dir("plugin/journal"))
        let record = JournalRecord<FakeIdentity>(
            plugin: "kubernetes.io/rbd", key: "rbd-image-a", fsType: "ext4", readOnly: false)
        try journal.save(record)  // makes the directory
        try MockingDriver.with { driver in
            try journal.save(record)
            let names = driver.trace.map(\.name).filter { ["fsync", "renameat"].contains($0) }
            #expect(names == ["fsync", "renameat"], "one fsync, of the temp file, before the rename; none after")
            #expect(driver.calls("fsync").first?.path?.hasSuffix(".tmp-\(getpid())") == true)
        }
        try MockingDriver.with { driver in
            try journal.remove("rbd-image-a")
            #expect(driver.calls("unlinkat").count == 1 && driver.calls("fsync").isEmpty)
        }
        #expect(journal.keys().isEmpty)
    }

    /// A record is one regular file of ours: one read, no second read for the end.
    @Test func loadReadsTheRecordOnce() throws {
        let dir = try TemporaryDirectory()
        let journal = Journal<FakeIdentity>(directory: dir("j"))
        var record = JournalRecord<FakeIdentity>(plugin: "p", key: "k", fsType: "ext4", readOnly: false)
        record.identity = FakeIdentity(device: 1, fsid: String(repeating: "f", count: 5000))  // a record over 4 KiB
        try journal.save(record)
        let big = try MockingDriver.with { driver in
            let loaded = try journal.load("k")
            #expect(driver.calls("read").count == 2, "4096 bytes, then the short rest")
            return loaded
        }
        #expect(big?.identity == record.identity)
        record.identity = FakeIdentity(device: 1, fsid: "f")
        try journal.save(record)
        let small = try MockingDriver.with { driver in
            let loaded = try journal.load("k")
            #expect(driver.calls("read").count == 1)
            return loaded
        }
        #expect(small?.identity == record.identity)
    }

    @Test func roundTripIsPrivateAndAtomic() throws {
        let dir = try TemporaryDirectory()
        let journal = Journal<FakeIdentity>(directory: dir("plugin/journal"))
        #expect(try journal.load("rbd-image-a") == nil)
        var record = JournalRecord<FakeIdentity>(
            plugin: "kubernetes.io/rbd", key: "rbd-image-a", fsType: "ext4", readOnly: false)
        record.identity = FakeIdentity(device: 3, fsid: "f")
        record.phase = .mapped
        try journal.save(record)
        let loaded = try #require(try journal.load("rbd-image-a"))
        #expect(loaded.identity == record.identity && loaded.phase == .mapped && loaded.updated > 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir("plugin/journal/rbd-image-a.json").string)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect(journal.keys() == ["rbd-image-a"])
        try journal.remove("rbd-image-a")
        try journal.remove("rbd-image-a")
        #expect(journal.keys().isEmpty)
    }

    @Test func crashBetweenTempAndRenameKeepsTheOldRecordValid() throws {
        let dir = try TemporaryDirectory()
        let journal = Journal<FakeIdentity>(directory: dir("j"))
        var record = JournalRecord<FakeIdentity>(plugin: "p", key: "k", fsType: "xfs", readOnly: true)
        try journal.save(record)
        record.phase = .mounted
        MockingDriver.with { driver in
            driver.fail("renameat", with: .ioError)
            #expect(throws: VolumeError.self) { try journal.save(record) }
        }
        // A stale temp file from a crash must not be taken for a record either.
        try dir.write("j/.k.json.tmp-999", "{garbage")
        #expect(try journal.load("k")?.phase == .attaching)
        #expect(journal.keys() == ["k"])
    }

    @Test func newerSchemaAndGarbageAreRefused() throws {
        let dir = try TemporaryDirectory()
        let journal = Journal<FakeIdentity>(directory: dir.path)
        try dir.write(
            "new.json",
            #"{"schema": 99, "plugin": "p", "key": "new", "fsType": "ext4", "readOnly": false, "phase": "mounted", "formattedHere": false, "updated": 0}"#
        )
        let newer = #expect(throws: VolumeError.self) { try journal.load("new") }
        #expect(newer?.message.contains("schema 99") == true)
        try dir.write("bad.json", "{")
        #expect(throws: VolumeError.self) { try journal.load("bad") }
    }
}
