#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import LinuxSystem
import SystemPackage

/// How far an attach got; recorded before each step so that a crash at any point can be
/// resumed or undone by the next attach, detach or `reconcile`.
public enum AttachPhase: String, Codable, Sendable {
    /// Mapping was about to start; no device may exist yet.
    case attaching
    /// The device exists (identity recorded); not mounted yet.
    case mapped
    /// The device was proven blank and mkfs was about to start on it (schema 2). An attach
    /// that finds this phase with the same, continuously held mapping (equal identity) formats
    /// again: an interrupted mkfs leaves data without a signature that is never blank.
    case formatting
    /// The device is mounted at the global path.
    case mounted
    /// Detach started: unmount and unmap may be half done. Written by earlier versions; still
    /// understood (detach now removes the record once the device is gone).
    case detaching
}

/// The persisted record of one volume's attachment on this node. Holds no secret.
public struct JournalRecord<Identity: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// The schema of this record; readers refuse newer schemas.
    /// Schema 2 added the `formatting` phase; schema 1 records read unchanged.
    public static var currentSchema: Int { 2 }

    /// Schema version of this record.
    public var schema: Int
    /// The plugin that owns the volume.
    public var plugin: String
    /// The volume's global directory name (the journal's key).
    public var key: String
    /// The device's identity once mapped (for rbd: spec, device id, fsid, client address, …).
    public var identity: Identity?
    /// The block device node, once mapped.
    public var devicePath: String?
    /// The device number, once mapped.
    public var device: DeviceNumber?
    /// The filesystem asked for.
    public var fsType: String
    /// Whether the volume is attached read-only.
    public var readOnly: Bool
    /// How far the attach (or detach) got.
    public var phase: AttachPhase
    /// Whether this node created the filesystem (mkfs ran).
    public var formattedHere: Bool
    /// When the record was last written (seconds since 1970, UTC).
    public var updated: Double
    /// Where the volume is mounted once per node, when the caller gave the path (a CSI
    /// staging path); `nil`: the plugin's own `mounts/<key>`.
    public var globalPath: String?
    /// The provider's key of the volume's source, when the record's key is the caller's (see
    /// ``VolumeNames/key(forVolumeID:)``): what finds the device of a record that has no identity yet.
    public var sourceKey: String?
    /// `.block` for a raw-device volume (the device node bound onto a file in the global
    /// path); `nil` (records of earlier builds too): a filesystem.
    public var access: VolumeAccess?

    /// Creates a record in phase `.attaching`.
    public init(plugin: String, key: String, fsType: String, readOnly: Bool) {
        schema = Self.currentSchema
        self.plugin = plugin
        self.key = key
        self.fsType = fsType
        self.readOnly = readOnly
        phase = .attaching
        formattedHere = false
        updated = 0
    }
}

extension JournalRecord {
    /// The JSON keys: the property names, with ``device`` as `major` and `minor` side by side (as
    /// every build has written it).
    enum CodingKeys: String, CodingKey {
        case schema, plugin, key, identity, devicePath, major, minor, fsType, readOnly, phase, formattedHere
        case updated, globalPath, sourceKey, access
    }

    /// Decodes a record from the keys of ``encode(to:)`` (records of every build; ``device`` is
    /// `nil` unless both `major` and `minor` are there).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schema = try c.decode(Int.self, forKey: .schema)
        plugin = try c.decode(String.self, forKey: .plugin)
        key = try c.decode(String.self, forKey: .key)
        identity = try c.decodeIfPresent(Identity.self, forKey: .identity)
        devicePath = try c.decodeIfPresent(String.self, forKey: .devicePath)
        device = try c.decodeIfPresent(DeviceNumber.self, major: .major, minor: .minor)
        fsType = try c.decode(String.self, forKey: .fsType)
        readOnly = try c.decode(Bool.self, forKey: .readOnly)
        phase = try c.decode(AttachPhase.self, forKey: .phase)
        formattedHere = try c.decode(Bool.self, forKey: .formattedHere)
        updated = try c.decode(Double.self, forKey: .updated)
        globalPath = try c.decodeIfPresent(String.self, forKey: .globalPath)
        sourceKey = try c.decodeIfPresent(String.self, forKey: .sourceKey)
        access = try c.decodeIfPresent(VolumeAccess.self, forKey: .access)
    }

    /// Encodes every property under its name, absent ones left out, and ``device`` as `major`
    /// and `minor`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(plugin, forKey: .plugin)
        try c.encode(key, forKey: .key)
        try c.encodeIfPresent(identity, forKey: .identity)
        try c.encodeIfPresent(devicePath, forKey: .devicePath)
        try c.encodeIfPresent(device, major: .major, minor: .minor)
        try c.encode(fsType, forKey: .fsType)
        try c.encode(readOnly, forKey: .readOnly)
        try c.encode(phase, forKey: .phase)
        try c.encode(formattedHere, forKey: .formattedHere)
        try c.encode(updated, forKey: .updated)
        try c.encodeIfPresent(globalPath, forKey: .globalPath)
        try c.encodeIfPresent(sourceKey, forKey: .sourceKey)
        try c.encodeIfPresent(access, forKey: .access)
    }
}

/// One JSON file per volume, `<directory>/<key>.json`, mode 0600, replaced atomically (temp
/// file, fsync, rename): a crash of the process at any point leaves a whole record, old or new.
///
/// Renames and removals are not made durable with an fsync of the directory (one fsync less per
/// write, the larger cost of a write on a node's disk): only a power loss can undo them, and a
/// power loss takes every mapping and mount the journal describes with it, so the older record
/// (or none) it may leave behind describes state that is gone either way — `reconcile` drops
/// it, and the next attach or detach settles it. The record's content is fsync'd before the
/// rename: the journal is never malformed.
///
/// What each fsync buys. A process that dies (kill -9, OOM) loses nothing unsynced: the page
/// cache holds the renamed record for the next process. Only a kernel crash or a power loss
/// does, and it also ends every mapping and mount. What the content fsync protects is then
/// that the record is well-formed after it: without it a filesystem may keep the new name with
/// no or partial content (ext4's `auto_da_alloc` guards a rename over an existing file only;
/// other filesystems promise nothing), and ``load(_:)`` refuses a malformed record, so attach,
/// detach and status of that volume would fail until someone removed the file by hand. Per
/// attach that is one fsync per record written, each before the step it makes recoverable:
/// - `attaching`, before the map (only for a volume without a record of its identity, or one
///   recorded at another global path): a process crash right after the kernel write leaves a
///   record that finds the mapping;
/// - `mapped`, after it, with the device's identity: what detach, status and a resumed attach
///   unmap or adopt, identity-exact, never someone else's mapping;
/// - `formatting`, right before mkfs (blank volumes only): a resumed attach on the same,
///   continuously held mapping formats again;
/// - `mounted`: what makes a repeated attach a no-op and what setUp requires.
///
/// Three fsyncs for a formatted volume, four for a blank one, none for an attach of a volume
/// already attached, none for setUp, tearDown and detach (detach unlinks the record). Off the
/// common path, `reconcile(repair: true)` and an attach whose rollback cannot detach save a
/// record too (one fsync each).
public struct Journal<Identity: Codable & Sendable & Equatable>: Sendable {
    /// Where the records live.
    public let directory: FilePath

    /// A journal in `directory` (created 0700 on first write).
    public init(directory: FilePath) { self.directory = directory }

    private func file(_ key: String) -> FilePath { directory.appending(key + ".json") }

    /// The record for `key`, or `nil` when there is none.
    /// - Throws: `VolumeError(.journal)` when the file is unreadable, malformed or of a newer schema.
    public func load(_ key: String) throws(VolumeError) -> JournalRecord<Identity>? {
        let path = file(key)
        let bytes: [UInt8]
        do {
            bytes = try Files.readBytes(path, shortReadEnds: true)  // a regular file of ours
        } catch {
            if error.errno == .noSuchFileOrDirectory { return nil }
            throw VolumeError(.journal, "cannot read the attachment journal", cause: error)
        }
        do {
            let record = try Self.decode(bytes)
            guard record.schema <= JournalRecord<Identity>.currentSchema else {
                throw VolumeError(
                    .journal,
                    "journal \(path) has schema \(record.schema), newer than this build understands "
                        + "(\(JournalRecord<Identity>.currentSchema)); upgrade krbd", path: path)
            }
            return record
        } catch let error as VolumeError {
            throw error
        } catch {
            throw VolumeError(.journal, "journal \(path) is malformed: \(error)", path: path)
        }
    }

    /// Writes `record` atomically, stamping `updated`.
    /// - Throws: `VolumeError(.journal)` naming the file and errno.
    public func save(_ record: JournalRecord<Identity>) throws(VolumeError) {
        var record = record
        record.updated = Date().timeIntervalSince1970
        let data: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            data = Array(try encoder.encode(record))
        } catch {
            throw VolumeError(.journal, "cannot encode the journal of \(record.key): \(error)")
        }
        do throws(SyscallError) {
            do {
                try Files.writeAtomically(file(record.key), data, mode: 0o600, durableRename: false)
            } catch  where error.errno == .noSuchFileOrDirectory {
                // The first record: make the directory (not stat'ed on every save).
                try Files.makeDirectories(directory, mode: 0o700)
                try Files.writeAtomically(file(record.key), data, mode: 0o600, durableRename: false)
            }
        } catch {
            throw VolumeError(.journal, "cannot write the attachment journal of \(record.key)", cause: error)
        }
    }

    /// A record from its file's bytes (JSON as JSONEncoder wrote it, by this build or an earlier one).
    static func decode(_ bytes: [UInt8]) throws -> JournalRecord<Identity> {
        try JSONDecoder().decode(JournalRecord<Identity>.self, from: Data(bytes))
    }

    /// Removes the record for `key`; a missing record is fine.
    public func remove(_ key: String) throws(VolumeError) {
        do throws(SyscallError) {
            try Files.removeFile(file(key))  // not fsync'd: see the type's documentation
        } catch {
            throw VolumeError(.journal, "cannot remove the attachment journal of \(key)", cause: error)
        }
    }

    /// The keys of every record, sorted.
    public func keys() -> [String] {
        let names = (try? Files.list(directory)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
    }
}
