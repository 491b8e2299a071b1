// What a volume holds and whether it is healthy: CSI's NodeGetVolumeStats (bytes, inodes,
// volume_condition), the CLI's `stats`.
import BlockMount
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// Space and inodes of a mounted filesystem (statvfs(3)).
public struct VolumeUsage: Sendable, Codable, Equatable {
    /// Size of the filesystem in bytes.
    public var totalBytes: Int64
    /// Bytes an unprivileged writer can still use.
    public var availableBytes: Int64
    /// Bytes in use (total minus free, reserved blocks counted as free).
    public var usedBytes: Int64
    /// Inodes the filesystem has.
    public var totalInodes: Int64
    /// Inodes an unprivileged writer can still use.
    public var availableInodes: Int64
    /// Inodes in use.
    public var usedInodes: Int64
    /// Whether the filesystem is mounted read-only there.
    public var readOnly: Bool
}

/// Whether a volume is healthy, with a sentence saying why not.
public struct VolumeCondition: Sendable, Codable, Equatable {
    /// `true` when something is wrong.
    public var abnormal: Bool
    /// What is wrong (or "healthy"), naming the device and path.
    public var message: String
}

extension BlockVolumePlugin {
    /// Space and inodes of the filesystem mounted at `path`.
    /// - Throws: `VolumeError` `.notFound` when `path` does not exist, `.io` for another statvfs failure.
    public func usage(at path: FilePath) throws(VolumeError) -> VolumeUsage {
        var vfs = statvfs()
        guard system_statvfs(path.string, &vfs) == 0 else {
            let errno = Errno.current
            if errno == .noSuchFileOrDirectory || errno == .notDirectory {
                throw VolumeError(.notFound, "\(path) does not exist", path: path)
            }
            throw VolumeError(
                .io, "cannot read the usage of \(path)", cause: SyscallError("statvfs", path: path, errno: errno))
        }
        let unit = Int64(vfs.f_frsize == 0 ? vfs.f_bsize : vfs.f_frsize)
        return VolumeUsage(
            totalBytes: Int64(vfs.f_blocks) * unit, availableBytes: Int64(vfs.f_bavail) * unit,
            usedBytes: Int64(vfs.f_blocks - vfs.f_bfree) * unit, totalInodes: Int64(vfs.f_files),
            availableInodes: Int64(vfs.f_favail), usedInodes: Int64(vfs.f_files - vfs.f_ffree),
            readOnly: UInt(vfs.f_flag) & UInt(ST_RDONLY) != 0)
    }

    /// The condition of the volume attached under `key`: abnormal when the journal has no
    /// mounted record, when the recorded device is gone (unmapped behind the plugin's back), or
    /// when a read-write volume's filesystem is read-only at its mount (the kernel remounts a
    /// filesystem read-only after I/O errors, for example when the client was blocklisted).
    public func condition(key: String) throws(VolumeError) -> VolumeCondition {
        try VolumeNames.validateKey(key)
        guard let record = try journal.load(key) else {
            return VolumeCondition(
                abnormal: true, message: "volume \(key) has no journal record on this node: not attached")
        }
        return condition(of: record)
    }

    func condition(of record: JournalRecord<Provider.Identity>) -> VolumeCondition {
        let key = record.key
        let global = globalPath(of: record)
        guard record.phase == .mounted, let identity = record.identity else {
            return VolumeCondition(
                abnormal: true, message: "volume \(key) is \(record.phase.rawValue), not mounted, at \(global)")
        }
        let device = record.devicePath ?? "?"
        do {
            guard try provider.isAttached(identity) else {
                return VolumeCondition(
                    abnormal: true,
                    message: "device \(device) of volume \(key) is gone (unmapped behind the plugin, or the node "
                        + "rebooted); stage the volume again")
            }
        } catch {
            return VolumeCondition(
                abnormal: true, message: "cannot tell whether device \(device) is attached: \(error)")
        }
        do {
            try requireVolumeMount(at: global, of: record, key)
        } catch {
            return VolumeCondition(abnormal: true, message: error.message)
        }
        if record.access == .block {
            return VolumeCondition(
                abnormal: false, message: "device \(device) is bound at \(volumePath(of: record))")
        }
        if !record.readOnly, let usage = try? usage(at: global), usage.readOnly {
            return VolumeCondition(
                abnormal: true,
                message: "the filesystem on \(device) is read-only at \(global) although the volume is read-write: "
                    + "the kernel remounts after I/O errors (a blocklisted client, a full cluster); see dmesg")
        }
        return VolumeCondition(abnormal: false, message: "device \(device) is mounted at \(global)")
    }
}

/// ``VolumeUsage`` (or a block volume's size) and ``VolumeCondition`` of one volume path.
public struct VolumeStats: Sendable, Codable, Equatable {
    /// Space and inodes at the path; `nil` for a block volume.
    public var usage: VolumeUsage?
    /// A block volume's size in bytes (BLKGETSIZE64 of the device at the path); `nil` for a
    /// filesystem.
    public var deviceBytes: UInt64?
    /// Whether the volume is healthy.
    public var condition: VolumeCondition
}

extension BlockVolumePlugin {
    /// Usage at `path` (the volume's mount or one of its binds; for a block volume, its
    /// device file or a bind of it: then the device's size) and the condition of the volume
    /// attached under `key`.
    /// - Throws: `VolumeError` `.notFound` when `path` does not exist, is not a block volume's
    ///   device, or the journal has no record for `key`; `.invalidArgument`, `.journal`, `.io`,
    ///   `.mount` (the size cannot be read).
    public func stats(key: String, at path: FilePath) throws(VolumeError) -> VolumeStats {
        try VolumeNames.validateKey(key)
        guard let record = try journal.load(key) else {
            throw VolumeError(.notFound, "volume \(key) is not attached on this node (no journal record)", path: path)
        }
        guard record.access == .block else {
            return VolumeStats(usage: try usage(at: path), deviceBytes: nil, condition: condition(of: record))
        }
        do throws(VolumeError) {
            try requireDeviceNode(at: path, of: record, key)
        } catch {
            throw VolumeError(.notFound, error.message, path: path)
        }
        let bytes = try wrap("cannot read the size of \(path)") { () throws(MountError) in try BlockProbe.size(of: path)
        }
        return VolumeStats(usage: nil, deviceBytes: bytes, condition: condition(of: record))
    }

    /// ``stats(key:at:)`` on a Dispatch thread (statvfs of a filesystem whose cluster is gone can block).
    public func stats(key: String, at path: FilePath) async throws(VolumeError) -> VolumeStats {
        try await runBlocking { () throws(VolumeError) in try self.stats(key: key, at: path) }
    }
}
