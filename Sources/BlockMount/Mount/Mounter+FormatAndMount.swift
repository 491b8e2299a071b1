import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// What `formatAndMount` did, and how long each phase took.
public struct FormatAndMountResult: Sendable {
    /// What was done.
    public enum Outcome: Sendable, Hashable {
        /// `target` was already a mount point of this device: nothing was done.
        case alreadyMounted
        /// The device held a filesystem; it was mounted as it is (never reformatted).
        case mountedExisting
        /// The device was blank; it was formatted, then mounted.
        case formattedAndMounted
    }

    /// Per-phase durations (zero for a phase that did not run).
    public struct Timings: Sendable, Hashable {
        /// The libblkid probe.
        public var probe: Duration = .zero
        /// Waiting for a free mkfs slot (`FilesystemFormatter.concurrencyLimit`).
        public var formatQueue: Duration = .zero
        /// mkfs (and a probe under the mkfs slot when another mkfs ran since the first probe).
        public var format: Duration = .zero
        /// mount(2).
        public var mount: Duration = .zero
    }

    /// What was done.
    public var outcome: Outcome
    /// The first probe of the device; `nil` when it was already mounted (no probe then).
    public var probe: ProbeResult?
    /// The filesystem type that is mounted.
    public var fsType: String
    /// The filesystem type that was asked for.
    public var requestedType: String
    /// Per-phase durations.
    public var timings: Timings

    /// Whether the device held another filesystem type than requested (mounted as it is).
    public var isFilesystemMismatch: Bool { fsType != requestedType }
}

extension Mounter {
    /// Probes `device`, formats it if (and only if) it is blank, and mounts it at `target`.
    ///
    /// Idempotent: when `target` already is a mount point of `device`, nothing is done. A
    /// filesystem of another type than `fsType` is mounted as it is and reported
    /// (`isFilesystemMismatch`), never reformatted. `target` is created (0750) if missing.
    ///
    /// - Parameters:
    ///   - device: a block device.
    ///   - target: the mount point.
    ///   - fsType: the filesystem to make on a blank device (`ext4`, `xfs`).
    ///   - mountOptions: a mount(8)-style option string.
    ///   - formatOptions: appended to the mkfs defaults.
    ///   - readOnly: mount read-only; a blank device then fails (`.readOnlyBlank`).
    ///   - requiredFlags: `MS_*` flags the mount gets and is checked to carry (`MS_NODEV`,
    ///     `MS_NOSUID`), whatever `mountOptions` says (see ``mount(device:target:fsType:options:readOnly:requiredFlags:)``).
    ///   - formatter: mkfs timeouts.
    ///   - resumingInterruptedFormat: the caller proved this device blank, began formatting it
    ///     and has held it without a break since (its journal says so): data without a
    ///     signature, as an interrupted mkfs leaves it, is formatted again; everything else is
    ///     judged as usual.
    ///   - willFormat: runs after the decision to format and right before mkfs starts (record
    ///     there that formatting began); when it throws, nothing is formatted.
    /// - Throws: `MountError` `.notBlockDevice`, `.probeFailed`, `.partitioned`, `.unknownData`,
    ///   `.readOnlyBlank`, `.formatFailed`, `.targetInUse` (something else is mounted at
    ///   `target`), `.corruptedMount` (clean it up first), `.mountFailed`, `.directoryFailed`.
    /// - Touches: stat/mkdir of `target`, statx(2), mountinfo, the device (probe), mkfs,
    ///   mount(2).
    @discardableResult
    public func formatAndMount(
        device: FilePath, target: FilePath, fsType: String, mountOptions: String = "",
        formatOptions: [String] = [], readOnly: Bool = false, requiredFlags: UInt = 0,
        formatter: FilesystemFormatter = FilesystemFormatter(), resumingInterruptedFormat: Bool = false,
        willFormat: () throws(MountError) -> Void = {}
    ) throws(MountError) -> FormatAndMountResult {
        let clock = ContinuousClock()
        var timings = FormatAndMountResult.Timings()
        let deviceNumber = try blockDeviceNumber(device)
        do {
            try Files.makeDirectories(target)
        } catch {
            throw MountError(.directoryFailed, "cannot create the mount point \(target)", path: target, cause: error)
        }

        if try isMountPoint(target) {
            let table = try mountTable()
            if let top = table.mounts(at: target).last, top.device == deviceNumber {
                return FormatAndMountResult(
                    outcome: .alreadyMounted, probe: nil, fsType: top.fsType,
                    requestedType: fsType, timings: timings)
            }
            throw MountError(
                .targetInUse,
                "\(target) already has another mount on it (not \(device)); "
                    + "unmount it first", path: target)
        }

        var start = clock.now
        let mark = FormatQueue.shared.mark()
        let probe = try BlockProbe.probe(device).result
        timings.probe = clock.now - start
        let mountType: String
        let outcome: FormatAndMountResult.Outcome
        switch probe {
        case .filesystem(let type, _, _):
            mountType = type
            outcome = .mountedExisting
        case .blank, .partitionTable, .unknownData, .nonZeroData:
            // Under its slot the formatter probes again (unless this probe is still fresh: blank
            // and no mkfs of this process since) and refuses anything but blank. mount(2) of
            // fsType below checks what mkfs made.
            let result = try formatter.format(
                device: device, fsType: fsType, options: formatOptions, readOnly: readOnly,
                probedBlank: probe == .blank ? mark : nil, verify: false, resuming: resumingInterruptedFormat,
                willFormat: willFormat)
            timings.formatQueue = result.queueWait
            timings.format = result.duration
            switch result.outcome {
            case .formatted:
                mountType = fsType
                outcome = .formattedAndMounted
            case .existing(let type):
                mountType = type
                outcome = .mountedExisting
            }
        }

        start = clock.now
        do {
            try mount(
                device: device, target: target, fsType: mountType, options: mountOptions, readOnly: readOnly,
                requiredFlags: requiredFlags)
        } catch  where outcome == .formattedAndMounted {
            var error = error
            error.message =
                "mkfs.\(fsType) on \(device) exited 0, but mounting the new filesystem failed: " + error.message
            throw error
        }
        timings.mount = clock.now - start
        return FormatAndMountResult(
            outcome: outcome, probe: probe, fsType: mountType, requestedType: fsType,
            timings: timings)
    }

    /// The device number of a block device; anything else is `.notBlockDevice`.
    private func blockDeviceNumber(_ device: FilePath) throws(MountError) -> DeviceNumber {
        let status: stat?
        do {
            status = try Files.status(device, followSymlinks: true)
        } catch {
            throw MountError(.notBlockDevice, "cannot stat \(device)", path: device, cause: error)
        }
        guard let st = status else {
            throw MountError(
                .notBlockDevice, "\(device) does not exist; is it attached?", path: device,
                cause: SyscallError("stat", path: device, errno: .noSuchFileOrDirectory))
        }
        guard st.st_mode & S_IFMT == S_IFBLK else {
            throw MountError(.notBlockDevice, "\(device) is not a block device", path: device)
        }
        return DeviceNumber(rdev: st.st_rdev)
    }
}
