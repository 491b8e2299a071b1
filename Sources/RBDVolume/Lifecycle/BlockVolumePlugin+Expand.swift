// Growing a volume after its image was grown (CSI's NodeExpandVolume, `krbd expand`): the
// kernel's new device size, then the filesystem, online.
import BlockMount
import LinuxSystem
import SystemPackage

/// What `expand` did.
public struct ExpandResult: Sendable, Codable, Equatable {
    /// The device's size in bytes, as the kernel sees it now.
    public var deviceBytes: UInt64
    /// The filesystem's size in bytes after growing it; `nil` for a block volume (nothing
    /// to grow on the node).
    public var filesystemBytes: Int64?
    /// How long each phase took.
    public var timings: PhaseTimings
}

extension BlockVolumePlugin {
    /// Grows the filesystem of the volume attached under `key` to its device's size, online.
    /// A block volume only waits for the device's size (its user grows what it keeps there).
    ///
    /// The kernel learns of a grown image by itself (rbd watches the image header); when
    /// `requiredBytes` is more than the device's size, the call waits up to `sizeWait` for the
    /// new size to appear. A filesystem that fills its device already is success.
    ///
    /// - Throws: `VolumeError` `.notAttached` (no mounted record, or its device is not the mount
    ///   there), `.device` (the device stayed smaller than `requiredBytes`), `.mount`
    ///   (`cause` `.mount`, code `.resizeFailed`), `.invalidArgument`, `.lockTimeout`.
    @discardableResult
    public func expand(key: String, requiredBytes: UInt64 = 0, sizeWait: Duration = .seconds(10)) throws(VolumeError)
        -> ExpandResult
    {
        try VolumeNames.validateKey(key)
        let result = try withVolumeLock(key) { () throws(VolumeError) -> ExpandResult in
            var timings = PhaseTimings()
            guard let record = try journal.load(key), record.phase == .mounted, let devicePath = record.devicePath
            else {
                throw VolumeError(
                    .notAttached, "volume \(key) is not attached on this node; stage it before expanding it")
            }
            let global = globalPath(of: record)
            try requireVolumeMount(at: global, of: record, key)
            let device = FilePath(devicePath)
            let started = ContinuousClock.now
            var size = try wrap("cannot read the size of \(device)") { () throws(MountError) in
                try BlockProbe.size(of: device)
            }
            while size < requiredBytes && ContinuousClock.now - started < sizeWait {
                system_usleep(100_000)
                size = try wrap("cannot read the size of \(device)") { () throws(MountError) in
                    try BlockProbe.size(of: device)
                }
            }
            timings.record("size", ContinuousClock.now - started)
            guard size >= requiredBytes else {
                throw VolumeError(
                    .device,
                    "device \(device) of volume \(key) is \(size) bytes, less than the \(requiredBytes) asked for, after "
                        + "waiting \(sizeWait): grow the image first (rbd resize), or check that this node's mapping "
                        + "still watches it", path: device)
            }
            if record.access == .block {
                return ExpandResult(deviceBytes: size, filesystemBytes: nil, timings: timings)
            }
            let fsType = try mountTable().mounts(at: global).last?.fsType ?? record.fsType
            try timings.measure("resize") { () throws(VolumeError) in
                try wrap("cannot grow the filesystem of volume \(key)") { () throws(MountError) in
                    try FilesystemResizer.grow(device: device, mountPoint: global, fsType: fsType)
                }
            }
            let usage = try usage(at: global)
            return ExpandResult(deviceBytes: size, filesystemBytes: usage.totalBytes, timings: timings)
        }
        logPhases("expand", key: key, result.timings)
        return result
    }

    /// ``expand(key:requiredBytes:sizeWait:)`` from a task (see ``attach(_:key:at:deadline:)``).
    @discardableResult
    public func expand(key: String, requiredBytes: UInt64 = 0, deadline: ContinuousClock.Instant?)
        async throws(VolumeError)
        -> ExpandResult
    {
        try await turns.run(key, deadline: deadline) { () async throws(VolumeError) -> ExpandResult in
            try await runBlocking { () throws(VolumeError) in try self.expand(key: key, requiredBytes: requiredBytes) }
        }
    }
}
