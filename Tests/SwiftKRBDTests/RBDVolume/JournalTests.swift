import Foundation
import SystemPackage
import KRBD
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

    /// A record as earlier builds wrote it (major and minor side by side, at the top and in the
    /// rbd identity), byte for byte as `Journal.save` encodes.
    static let earlierRecord = #"""
        {
          "devicePath" : "\/dev\/rbd1",
          "formattedHere" : true,
          "fsType" : "ext4",
          "identity" : {
            "clientAddress" : "10.0.0.5:0\/1234",
            "clientID" : "client4104",
            "clusterFSID" : "5b5a8e4c-2f0e-4a7a-9a1e-1f0c3d2b4a6e",
            "devicePath" : "\/dev\/rbd1",
            "diskSequence" : 7,
            "features" : 61,
            "id" : 1,
            "image" : "img",
            "imageID" : "10226b8b4567",
            "major" : 254,
            "minor" : 16,
            "pool" : "rbd",
            "poolID" : 2,
            "size" : 1073741824
          },
          "key" : "rbd-image-img",
          "major" : 254,
          "minor" : 16,
          "phase" : "mounted",
          "plugin" : "kubernetes.io\/rbd",
          "readOnly" : false,
          "schema" : 2,
          "updated" : 1764580000.25
        }
        """#

    /// The device number is one value in memory and two numbers on disk: a record of an earlier
    /// build loads with it, and encodes to the very same bytes (`major`/`minor`, no `device`).
    @Test func aRecordOfAnEarlierBuildLoadsAndEncodesTheSameKeys() throws {
        let dir = try TemporaryDirectory()
        try dir.write("j/rbd-image-img.json", Self.earlierRecord)
        let journal = Journal<MappedDevice>(directory: dir("j"))
        let record = try #require(try journal.load("rbd-image-img"))
        #expect(record.device == DeviceNumber(major: 254, minor: 16))
        #expect(record.identity?.device == DeviceNumber(major: 254, minor: 16) && record.identity?.id == 1)
        #expect(record.phase == .mounted && record.identity?.diskSequence == 7)

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]  // Journal.save's
        let bytes = try encoder.encode(record)
        #expect(String(decoding: bytes, as: UTF8.self) == Self.earlierRecord)
        let object = try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
        let identity = try #require(object["identity"] as? [String: Any])
        for keys in [object, identity] {
            #expect(keys["major"] as? Int == 254 && keys["minor"] as? Int == 16 && keys["device"] == nil)
        }

        // Before the map: neither key.
        let attaching = JournalRecord<MappedDevice>(plugin: "p", key: "k", fsType: "ext4", readOnly: false)
        let empty = try #require(
            try JSONSerialization.jsonObject(with: try encoder.encode(attaching)) as? [String: Any])
        #expect(empty["major"] == nil && empty["minor"] == nil && empty["device"] == nil)
        #expect(
            try JSONDecoder().decode(JournalRecord<MappedDevice>.self, from: encoder.encode(attaching)) == attaching)
    }
}
