import BlockMount
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

extension BlockVolumePlugin {
    /// Attaches the volume to this node: finds or attaches its device, records it in the
    /// journal, makes a filesystem only on a device proven blank (never for read-only), and
    /// mounts it at the global path. Idempotent: an attached volume returns `changed == false`.
    ///
    /// Everything that can be checked is checked before the first kernel write: the volume
    /// name, filesystem type, mount options and the provider's source (names, options,
    /// credentials). An existing device is adopted only when it is exactly what attaching anew
    /// would give (see ``BlockDeviceProvider/attach(_:readOnly:)``).
    ///
    /// Right before mkfs the journal records `formatting` with the device's identity: when the
    /// process dies during mkfs, the next attach that finds the same mapping (never unmapped in
    /// between: equal identity) formats again instead of refusing the half-written device.
    ///
    /// A failure after the device was attached by this call (or by an earlier, interrupted
    /// attach) detaches it again (waiting out transient openers such as udev's probe) and
    /// removes the journal. When that detach fails too, the record stays (with the device's
    /// identity): `status` shows it, and `detach` or `reconcile(repair: true)` completes it; the
    /// error says so.
    ///
    /// - Parameters:
    ///   - spec: the volume.
    ///   - callerKey: the journal key (``VolumeNames/key(forVolumeID:)`` of the caller's volume id, such
    ///     as CSI's `volume_id`); by default the provider's key of the source. A key is one volume:
    ///     attaching another source under a key in use is `.inUse`.
    ///   - path: where to mount the volume (a CSI staging path, which must exist or is created);
    ///     by default ``globalPath(key:)``. Recorded, so that ``detach(key:at:)`` and
    ///     ``setUp(key:at:target:readOnly:mountOptions:fsGroup:access:)`` find it.
    /// - Throws: `VolumeError` `.invalidArgument` (before anything is done), `.device` (map
    ///   failed; `cause` is the provider's error, `.rbd` for the rbd provider), `.mount`
    ///   (probe/mkfs/mount failed; `cause` is `.mount`), `.inUse` (attached otherwise: other
    ///   mode, other source or another path), `.journal`, `.lockTimeout`, `.io`.
    @discardableResult
    public func attach(_ spec: VolumeSpec, key callerKey: String? = nil, at path: FilePath? = nil) throws(VolumeError)
        -> AttachResult
    {
        let source = try source(of: spec)
        try validate(spec, source)
        let sourceKey = provider.volumeKey(source)
        if let callerKey { try VolumeNames.validateKey(callerKey) }
        let key = callerKey ?? sourceKey
        let path = try path.map { (path) throws(VolumeError) in try Self.checkedPath(path, "the mount path") }
        let result = try withVolumeLock(key) { () throws(VolumeError) -> AttachResult in
            var timings = PhaseTimings()
            let previous = try journal.load(key)
            let global = path ?? globalPath(key: key)
            if let previous {
                if (previous.sourceKey ?? previous.key) != sourceKey {
                    throw VolumeError(
                        .inUse,
                        "volume key \(key) is attached for another source (\(previous.sourceKey ?? previous.key)), not "
                            + "\(spec); detach it first", path: globalPath(of: previous))
                }
                let access = previous.access ?? .filesystem
                if access != spec.access {
                    throw VolumeError(
                        .inUse,
                        "volume \(spec) is attached as a \(access.rawValue) volume at \(globalPath(of: previous)) on this "
                            + "node; detach it before attaching it as a \(spec.access.rawValue) volume",
                        path: globalPath(of: previous))
                }
                let recorded = globalPath(of: previous)
                if recorded != global, previous.phase != .attaching, try isMounted(volumePath(of: previous)) {
                    throw VolumeError(
                        .inUse,
                        "volume \(spec) is mounted at \(recorded) on this node, not at \(global); detach it there first",
                        path: recorded)
                }
            }
            if try isMounted(Self.volumePath(global, spec.access)), let previous, previous.phase == .mounted,
                let device = previous.devicePath,
                globalPath(of: previous) == global
            {
                try requireVolumeMount(at: global, of: previous, "\(spec)")
                if previous.readOnly != spec.readOnly {
                    throw VolumeError(
                        .inUse,
                        "volume \(spec) is attached \(previous.readOnly ? "read-only" : "read-write") on this node; "
                            + "detach it before attaching it \(spec.readOnly ? "read-only" : "read-write")",
                        path: global)
                }
                return AttachResult(
                    key: key, globalPath: global, devicePath: FilePath(device), changed: false, formatted: false,
                    fsType: previous.access == .block ? nil : previous.fsType, fsTypeMismatch: nil, timings: timings)
            }
            do throws(SyscallError) {
                try Files.makeDirectories(global, mode: 0o750)
            } catch {
                throw VolumeError(.io, "cannot create the global path of \(spec)", cause: error)
            }
            var record = previous ?? JournalRecord(plugin: name, key: key, fsType: spec.fsType, readOnly: spec.readOnly)
            record.globalPath = path?.string
            record.sourceKey = callerKey == nil ? nil : sourceKey
            record.access = spec.access == .block ? .block : nil
            if record.identity == nil || previous?.globalPath != record.globalPath {
                record.phase = .attaching
                try journal.save(record)
            }

            let device: AttachedDevice<Provider.Identity>
            do throws(Provider.Failure) {
                device = try timings.measure("map") { () throws(Provider.Failure) in
                    try provider.attach(source, readOnly: spec.readOnly)
                }
            } catch {
                if error.mayHaveLeftDevice {
                    // The kernel may hold a device this attach could not find or remove: the
                    // `attaching` record stays, so that status shows it and the next attach or a
                    // detach settles it.
                    throw VolumeError(
                        .device,
                        "cannot attach \(spec): \(error); the volume stays recorded as attaching — attach "
                            + "or detach it again to settle it", cause: error.volumeCause)
                }
                if previous == nil {
                    try? journal.remove(key)
                    try? Files.removeDirectory(global)  // the empty directory made above
                }
                throw VolumeError(.device, "cannot attach \(spec): \(error)", cause: error.volumeCause)
            }
            // Ours to undo: mapped by this call, or by an earlier attach of ours that was
            // interrupted (its journal says so, with or without the identity recorded yet).
            let ours = device.newlyAttached || previous?.identity == device.identity || previous?.phase == .attaching
            // An earlier attach began mkfs on this very mapping (identity equal: never unmapped
            // since, so nobody else wrote it meanwhile) and did not finish.
            let resuming = previous?.phase == .formatting && previous?.identity == device.identity
            record.identity = device.identity
            record.devicePath = device.path.string
            record.device = device.device
            record.phase = resuming ? .formatting : .mapped
            if spec.access == .block {
                do throws(VolumeError) {
                    try journal.save(record)
                    try exposeBlockDevice(device.path, at: global, record: record, timings: &timings)
                    record.phase = .mounted
                    try journal.save(record)
                    return AttachResult(
                        key: key, globalPath: global, devicePath: device.path, changed: true, formatted: false,
                        fsType: nil, fsTypeMismatch: nil, timings: timings)
                } catch {
                    throw rollBack(
                        error, device: device, ours: ours, record: record, previous: previous, global: global)
                }
            }
            do throws(VolumeError) {
                // Recorded before probe, mkfs and mount (which can take minutes): status,
                // reconcile and a detach after a crash then know the exact device, not only
                // that "a mapping may exist".
                try journal.save(record)
                let outcome = try formatAndMount(
                    device: device, spec: spec, at: global, resuming: resuming, timings: &timings
                ) { () throws(VolumeError) in
                    guard spec.mayFormat else {
                        throw VolumeError(
                            .refusedFormat,
                            "device \(device.path) of volume \(spec) is blank (or holds data without a signature), and "
                                + "this volume is never formatted (a static volume's data comes from elsewhere): check "
                                + "that the image is the one meant, or let it be formatted", path: device.path)
                    }
                    record.phase = .formatting
                    try journal.save(record)
                }
                record.phase = .mounted
                record.formattedHere = record.formattedHere || outcome.formatted
                try journal.save(record)
                return AttachResult(
                    key: key, globalPath: global, devicePath: device.path, changed: true,
                    formatted: outcome.formatted, fsType: outcome.fsType, fsTypeMismatch: outcome.mismatch,
                    timings: timings)
            } catch {
                throw rollBack(error, device: device, ours: ours, record: record, previous: previous, global: global)
            }
        }
        logPhases("attach", key: key, result.timings)
        return result
    }

    /// A block volume's device at `global/device`: left alone when that is already the bind of
    /// the recorded device (an attach interrupted after its bind), else cleaned up and bound anew.
    private func exposeBlockDevice(
        _ node: FilePath, at global: FilePath, record: JournalRecord<Provider.Identity>, timings: inout PhaseTimings
    ) throws(VolumeError) {
        let file = Self.volumePath(global, .block)
        if try isMounted(file) {
            if (try? requireVolumeMount(at: global, of: record, record.key)) != nil { return }
            try cleanupMountPoint(file)
        }
        try bindDeviceNode(node, to: file, readOnly: record.readOnly, timings: &timings)
    }

    /// Everything about `spec` that attach can check before the first kernel write (the volume
    /// name is checked where it becomes a path: `setUp`, `tearDown`).
    func validate(_ spec: VolumeSpec, _ source: Provider.Source) throws(VolumeError) {
        if spec.access == .block && !(spec.mountOptions.isEmpty && spec.formatOptions.isEmpty) {
            throw VolumeError(
                .invalidArgument,
                "volume \(spec) is a block volume: it is never mounted or formatted, so it takes no mount or format "
                    + "options; remove them")
        }
        do throws(MountError) {
            try FilesystemFormatter.validateFilesystemType(spec.fsType)
            try FilesystemFormatter.validateFormatOptions(spec.formatOptions)
            _ = try MountOptions(Self.userMountOptions(spec.mountOptions))
        } catch {
            throw VolumeError(.invalidArgument, "volume \(spec): \(error.message)", cause: .mount(error))
        }
        do throws(Provider.Failure) {
            try provider.validate(source)
        } catch {
            throw VolumeError(.invalidArgument, "volume \(spec): \(error)", cause: error.volumeCause)
        }
    }

    /// Undoes a failed attach: never a mapping left without a record, never a record left for
    /// a mapping that is gone. Returns the error to throw.
    private func rollBack(
        _ error: VolumeError, device: AttachedDevice<Provider.Identity>, ours: Bool,
        record: JournalRecord<Provider.Identity>, previous: JournalRecord<Provider.Identity>?, global: FilePath
    ) -> VolumeError {
        let unmounted = (try? cleanupVolume(at: global, record.access ?? .filesystem)) != nil
        guard ours else {
            // Someone else's mapping, adopted by this call: leave it, but do not keep a journal
            // that would let a later detach unmap it.
            if previous == nil { try? journal.remove(record.key) }
            return error
        }
        do {
            guard unmounted else { throw VolumeError(.mount, "\(global) could not be unmounted", path: global) }
            try provider.detach(device.identity)
        } catch let detachError {
            // The record (saved with the identity before anything that can fail after the map)
            // stays: the mapping is never untracked.
            var error = error
            try? journal.save(record)
            error.message +=
                "; and the device \(device.path) could not be detached again (\(detachError)): it stays "
                + "recorded in the journal — `detach` (krbd detach) or `reconcile(repair: true)` (krbd status "
                + "--reconcile --repair) removes it"
            return error
        }
        try? journal.remove(record.key)
        return error
    }

    /// Bind-mounts the volume's global mount into the workload path
    /// `<root>/pods/<podUID>/volumes/<plugin~name>/<volume name>` (read-only with
    /// `MS_BIND|MS_REMOUNT|MS_RDONLY` when `readOnly` or the volume is read-only), then gives the
    /// tree to `fsGroup` (group rw, setgid directories; skipped when read-only; only when the
    /// root does not match yet). Idempotent.
    /// - Throws: `VolumeError` `.notAttached` ("volume … is not mounted at …": no record, or no mount of its device), `.mount`,
    ///   `.invalidArgument`, `.lockTimeout`, `.io`.
    @discardableResult
    public func setUp(
        _ spec: VolumeSpec, podUID: String, fsGroup: UInt32? = nil, readOnly: Bool = false
    ) throws(VolumeError) -> SetUpResult {
        let key = try self.key(for: spec)
        let target = try workloadPath(podUID: podUID, volumeName: spec.name)
        return try setUp(
            key: key, target: target, readOnly: readOnly || spec.readOnly, mountOptions: spec.mountOptions,
            fsGroup: fsGroup, describing: "\(spec)")
    }

    /// Bind-mounts the volume attached under `key` into `target` (a CSI target path: created
    /// here, as a directory), read-only with `MS_BIND|MS_REMOUNT|MS_RDONLY` when `readOnly` or
    /// the volume was attached read-only; `fsGroup` as in ``setUp(_:podUID:fsGroup:readOnly:)``.
    ///
    /// Binds only the volume's own mount: the journal must say it is mounted, at `path` when
    /// given, and the mount there must be of the recorded device. An empty directory at the
    /// path (a node rebooted since the attach) is `.notAttached`, never bound: the workload's
    /// data would go to the node's disk. Idempotent: a target that is already this volume's bind
    /// (read-only when asked) is success.
    ///
    /// - Parameters:
    ///   - key: the volume's journal key (as given to ``attach(_:key:at:)``).
    ///   - path: the path attach mounted at (checked against the record); the recorded one by default.
    ///   - target: the workload's path.
    ///   - readOnly: bind read-only.
    ///   - mountOptions: the volume's mount options: `dev` / `suid` there lift the nodev / nosuid
    ///     every bind carries (checked by statvfs).
    ///   - fsGroup: a group to give the tree to (not when read-only).
    ///   - access: how the caller means to use the volume, when it knows (a CSI publish
    ///     names it); a volume attached otherwise is `.inUse`. A block volume's target is a
    ///     file (created here) that its device node is bound onto; `mountOptions` and `fsGroup`
    ///     do not apply to it.
    /// - Throws: `VolumeError` `.notAttached`, `.inUse` (target holds something else, or is
    ///   read-write where read-only is asked, or the volume is attached with another access),
    ///   `.mount`, `.invalidArgument`, `.lockTimeout`, `.io`.
    @discardableResult
    public func setUp(
        key: String, at path: FilePath? = nil, target: FilePath, readOnly: Bool = false, mountOptions: [String] = [],
        fsGroup: UInt32? = nil, access: VolumeAccess? = nil
    ) throws(VolumeError) -> SetUpResult {
        try VolumeNames.validateKey(key)
        let target = try Self.checkedPath(target, "the target path")
        let path = try path.map { (path) throws(VolumeError) in try Self.checkedPath(path, "the mount path") }
        return try setUp(
            key: key, at: path, target: target, readOnly: readOnly, mountOptions: mountOptions, fsGroup: fsGroup,
            access: access, describing: "with key \(key)")
    }

    private func setUp(
        key: String, at path: FilePath? = nil, target: FilePath, readOnly: Bool, mountOptions: [String],
        fsGroup: UInt32?, access expected: VolumeAccess? = nil, describing volume: String
    ) throws(VolumeError) -> SetUpResult {
        let result = try withVolumeLock(key) { () throws(VolumeError) -> SetUpResult in
            var timings = PhaseTimings()
            let record = try journal.load(key)
            let global = path ?? record.map(globalPath(of:)) ?? globalPath(key: key)
            guard let record, record.phase == .mounted, globalPath(of: record) == global,
                try isMounted(volumePath(of: record))
            else {
                throw VolumeError(
                    .notAttached,
                    "volume \(volume) is not mounted at \(global) on this node (\(Self.describe(record))): "
                        + "attach (stage) it before setting it up", path: global)
            }
            let access = record.access ?? .filesystem
            if let expected, expected != access {
                throw VolumeError(
                    .inUse,
                    "volume \(volume) is attached as a \(access.rawValue) volume at \(global), not as a "
                        + "\(expected.rawValue) volume; detach (unstage) it and attach it as a \(expected.rawValue) volume",
                    path: global)
            }
            try requireVolumeMount(at: global, of: record, volume)
            let source = volumePath(of: record)
            let ro = readOnly || record.readOnly
            if try isMounted(target) {
                // Already set up: it must be this volume's bind (the one walk detach uses too), and
                // read-only when asked (statvfs of the target: the mount on top).
                guard try workloadMounts(of: source).contains(target.lexicallyNormalized()) else {
                    throw VolumeError(
                        .inUse, "\(target) is a mount point, but not of volume \(volume); tear it down first",
                        path: target)
                }
                let isReadOnly = (try? usage(at: target))?.readOnly ?? false
                if ro && !isReadOnly {
                    throw VolumeError(
                        .inUse, "\(target) is set up read-write; tear it down before setting it up read-only",
                        path: target)
                }
                return SetUpResult(path: target, changed: false, readOnly: isReadOnly, timings: timings)
            }
            if access == .block {
                try bindDeviceNode(source, to: target, readOnly: ro, timings: &timings)
                return SetUpResult(path: target, changed: true, readOnly: ro, timings: timings)
            }
            do throws(SyscallError) {
                try Files.makeDirectories(target, mode: 0o750)
            } catch {
                throw VolumeError(.io, "cannot create the workload path of volume \(volume)", cause: error)
            }
            try bind(
                global, to: target, readOnly: ro, requiredFlags: Self.requiredMountFlags(mountOptions),
                timings: &timings)
            if let fsGroup, !ro {
                do throws(VolumeError) {
                    try applyOwnership(target, gid: fsGroup, timings: &timings)
                } catch {
                    _ = try? cleanupMountPoint(target)
                    throw error
                }
            }
            return SetUpResult(path: target, changed: true, readOnly: ro, timings: timings)
        }
        logPhases("setUp", key: key, result.timings)
        return result
    }

    /// The journal's state in a few words, for errors.
    static func describe(_ record: JournalRecord<Provider.Identity>?) -> String {
        guard let record else { return "no journal record" }
        return "journal: \(record.phase.rawValue)" + (record.devicePath.map { " \($0)" } ?? "")
    }

    /// Throws `.notAttached` unless the top mount at `global` is the device `record` holds: a
    /// mount point alone proves nothing (another device, or a leftover after a reboot). The
    /// device node's number is what mount(2) recorded (as `formatAndMount` compares it).
    func requireVolumeMount(at global: FilePath, of record: JournalRecord<Provider.Identity>, _ volume: String)
        throws(VolumeError)
    {
        if record.access == .block {
            return try requireDeviceNode(at: Self.volumePath(global, .block), of: record, volume)
        }
        let device = try wrap("cannot read the mount table") { () throws(MountError) in
            try MountTable.mountedDevice(at: global, proc: host.proc)
        }
        let node = record.devicePath.flatMap { path in (try? Files.status(FilePath(path), followSymlinks: true)) ?? nil
        }
        guard let device, let node, node.st_mode & S_IFMT == S_IFBLK, device == DeviceNumber(rdev: node.st_rdev) else {
            throw VolumeError(
                .notAttached,
                "\(global) holds \(device.map { "device \($0)" } ?? "no mount"), not volume \(volume)'s device "
                    + "\(record.devicePath ?? "?") (\(record.device?.description ?? "?:?")); "
                    + "attach (stage) the volume again", path: global)
        }
    }

    /// Throws `.notAttached` unless `path` is the block device node `record` holds (its bind at
    /// the global path, or a workload's bind of that): mountinfo shows such a bind as a mount of
    /// devtmpfs, so the node's own device number is what tells (stat(2), not followed).
    func requireDeviceNode(at path: FilePath, of record: JournalRecord<Provider.Identity>, _ volume: String)
        throws(VolumeError)
    {
        let there = (try? Files.status(path, followSymlinks: false)) ?? nil
        let node = record.devicePath.flatMap { path in (try? Files.status(FilePath(path), followSymlinks: true)) ?? nil
        }
        guard let there, let node, there.st_mode & S_IFMT == S_IFBLK, node.st_mode & S_IFMT == S_IFBLK,
            there.st_rdev == node.st_rdev
        else {
            let found =
                there.map {
                    $0.st_mode & S_IFMT == S_IFBLK ? "device \(DeviceNumber(rdev: $0.st_rdev))" : "no device node"
                }
                ?? "nothing"
            throw VolumeError(
                .notAttached,
                "\(path) holds \(found), not volume \(volume)'s device \(record.devicePath ?? "?"); attach (stage) the "
                    + "volume again", path: path)
        }
    }

    /// Unmounts the workload path and removes its directory. Idempotent: `changed` is `false`
    /// when there was nothing there.
    /// - Throws: `VolumeError` `.mount` (for example busy, naming the holders), `.invalidArgument`.
    @discardableResult
    public func tearDown(_ spec: VolumeSpec, podUID: String) throws(VolumeError) -> TearDownResult {
        let key = try self.key(for: spec)
        let target = try workloadPath(podUID: podUID, volumeName: spec.name)
        return try tearDown(key: key, target: target)
    }

    /// Unmounts `target` (a CSI target path) and removes it, under the lock of volume `key`.
    /// Idempotent: a missing target is success, with `changed` `false`.
    /// - Throws: `VolumeError` `.mount` (for example busy, naming the holders), `.invalidArgument`.
    @discardableResult
    public func tearDown(key: String, target: FilePath) throws(VolumeError) -> TearDownResult {
        try VolumeNames.validateKey(key)
        let target = try Self.checkedPath(target, "the target path")
        let result = try withVolumeLock(key) { () throws(VolumeError) -> TearDownResult in
            var timings = PhaseTimings()
            let changed = try timings.measure("unmount") { () throws(VolumeError) in try cleanupMountPoint(target) }
            return TearDownResult(path: target, changed: changed, timings: timings)
        }
        logPhases("tearDown", key: key, result.timings)
        return result
    }

    /// Detaches the volume from this node once no workload uses it: unmounts the global path,
    /// detaches the device (identity re-checked by the provider), removes the journal and the
    /// directory. Idempotent: a detached volume is success. Without a journal record, the
    /// source's existing device (identity-exact) is what is detached.
    /// - Throws: `VolumeError` `.inUse` naming the workload paths still bound from the global
    ///   mount, `.mount`, `.device`, `.journal`, `.lockTimeout`.
    @discardableResult
    public func detach(_ spec: VolumeSpec) throws(VolumeError) -> DetachResult {
        let source = try source(of: spec)
        return try detach(key: provider.volumeKey(source), at: nil, describing: "\(spec)") {
            () throws(Provider.Failure) in try provider.existingDevice(source, readOnly: spec.readOnly)?.identity
        }
    }

    /// Detaches the volume attached under `key` (a CSI unstage: only the volume id and the
    /// staging path are known): unmounts its path, detaches the recorded device, removes the
    /// journal and the path. A record without an identity (an attach interrupted around its
    /// map) detaches what the provider finds for the record's source. Idempotent: no record is
    /// success, after unmounting `path` when given.
    ///
    /// - Parameters:
    ///   - key: the volume's journal key.
    ///   - path: where it was mounted (checked against the record); the recorded one by default.
    /// - Throws: `VolumeError` `.inUse` (workloads still bound, or the volume is mounted at
    ///   another path), `.mount`, `.device`, `.journal`, `.lockTimeout`, `.invalidArgument`.
    @discardableResult
    public func detach(key: String, at path: FilePath? = nil) throws(VolumeError) -> DetachResult {
        try VolumeNames.validateKey(key)
        let path = try path.map { (path) throws(VolumeError) in try Self.checkedPath(path, "the mount path") }
        return try detach(key: key, at: path, describing: "with key \(key)") { nil }
    }

    private func detach(
        key: String, at path: FilePath?, describing volume: String,
        withoutRecord: () throws(Provider.Failure) -> Provider.Identity?
    ) throws(VolumeError) -> DetachResult {
        let result = try withVolumeLock(key) { () throws(VolumeError) -> DetachResult in
            var timings = PhaseTimings()
            let record = try journal.load(key)
            let global = path ?? record.map(globalPath(of:)) ?? globalPath(key: key)
            if let record, globalPath(of: record) != global, record.phase != .attaching {
                throw VolumeError(
                    .inUse,
                    "volume \(volume) is attached at \(globalPath(of: record)), not at \(global); detach it there",
                    path: global)
            }
            let access = record?.access ?? leftBlockFile(at: global)
            let users = try workloadMounts(of: Self.volumePath(global, access))
            if !users.isEmpty {
                throw VolumeError(
                    .inUse,
                    "volume \(volume) is still set up for workloads at \(users.map(\.string).joined(separator: ", ")); "
                        + "tear those down first", path: global)
            }
            // No `detaching` record is written first: a detach interrupted after the unmount
            // leaves a `mounted` record over an unmounted global path, which the next detach
            // (or attach) completes, and `reconcile` reports; the journal is removed last.
            var changed = try timings.measure("unmount") { () throws(VolumeError) in
                try cleanupVolume(at: global, access)
            }
            changed = changed || record != nil
            let identity: Provider.Identity?
            do throws(Provider.Failure) {
                if let recorded = record?.identity {
                    identity = recorded
                } else if let record {
                    identity = try provider.attachedDevices(forKey: record.sourceKey ?? record.key).first?.identity
                } else {
                    identity = try withoutRecord()
                }
                if let identity {
                    changed = true
                    try timings.measure("unmap") { () throws(Provider.Failure) in try provider.detach(identity) }
                }
            } catch {
                throw VolumeError(.device, "cannot detach volume \(volume): \(error)", cause: error.volumeCause)
            }
            try journal.remove(key)
            return DetachResult(changed: changed, timings: timings)
        }
        logPhases("detach", key: key, result.timings)
        return result
    }

    /// `.block` when `global` holds what a block attach leaves there (its `device` file: a
    /// device node, or the empty file under it), so that a detach without a journal record
    /// still removes it; `.filesystem` otherwise, and always when `global` is a mount point (a
    /// file of that name in a filesystem is data).
    func leftBlockFile(at global: FilePath) -> VolumeAccess {
        guard (try? isMounted(global)) == false,
            let st = (try? Files.status(Self.volumePath(global, .block), followSymlinks: false)) ?? nil
        else {
            return .filesystem
        }
        let kind = st.st_mode & S_IFMT
        return kind == S_IFBLK || (kind == S_IFREG && st.st_size == 0) ? .block : .filesystem
    }

    /// Every journaled volume next to the node's real state. A record without an identity (an
    /// attach interrupted around its map) is checked against the devices the provider finds for
    /// the volume, so that a mapping made before the crash shows.
    public func status() throws(VolumeError) -> [VolumeStatus] {
        var statuses: [VolumeStatus] = []
        for key in journal.keys() {
            guard let record = try journal.load(key) else { continue }
            var attached = false
            var devicePath = record.devicePath
            if let identity = record.identity {
                attached = (try? provider.isAttached(identity)) ?? false
            } else if let found = (try? provider.attachedDevices(forKey: record.sourceKey ?? key))?.first {
                attached = true
                devicePath = found.path.string
            }
            statuses.append(
                VolumeStatus(
                    key: key, phase: record.phase, devicePath: devicePath, deviceAttached: attached,
                    globalMounted: (try? isMounted(volumePath(of: record))) ?? false,
                    workloadMounts: (try? workloadMounts(of: volumePath(of: record))) ?? [],
                    readOnly: record.readOnly, fsType: record.fsType))
        }
        return statuses
    }
}
