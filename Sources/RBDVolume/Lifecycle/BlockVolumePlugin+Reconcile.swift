import BlockMount
import LinuxSystem
import SystemPackage

/// One difference between the journal and the node that `reconcile` found.
public struct ReconcileFinding: Sendable, CustomStringConvertible {
    /// What kind of drift this is.
    public enum Kind: String, Sendable {
        /// Journal, device and global mount agree.
        case consistent
        /// The device is attached but the global path is not mounted.
        case mappedNotMounted = "mapped-not-mounted"
        /// An attach or detach was interrupted before the device existed or after it was gone.
        case interrupted
        /// The journal names a device that is no longer attached, and nothing is mounted.
        case journalWithoutDevice = "journal-without-device"
        /// The global path is mounted but its recorded device is gone (I/O will fail).
        case staleMount = "stale-mount"
        /// Something is mounted in the plugin's mounts directory with no journal.
        case untrackedMount = "untracked-mount"
    }

    /// The volume's key (directory name).
    public var key: String
    /// The drift.
    public var kind: Kind
    /// What was done (with `repair`) or what to do.
    public var detail: String
    /// Whether `reconcile(repair: true)` fixed it.
    public var repaired: Bool

    /// `<key>: <kind>: <detail>`, with ` (repaired)` when it was.
    public var description: String { "\(key): \(kind.rawValue): \(detail)\(repaired ? " (repaired)" : "")" }
}

extension BlockVolumePlugin {
    /// The decision for one journaled volume, from facts alone (unit-tested on fixtures).
    /// `identityKnown == false` (an `attaching` record: the map may have happened unrecorded)
    /// means `deviceAttached` could not be checked: such a volume is only ever `interrupted`,
    /// never a stale mount to clean up.
    static func classify(
        phase: AttachPhase, deviceAttached: Bool, globalMounted: Bool, identityKnown: Bool = true
    ) -> ReconcileFinding.Kind {
        if !identityKnown && phase == .attaching { return .interrupted }
        switch (deviceAttached, globalMounted) {
        case (true, true): return .consistent
        case (true, false): return phase == .detaching || phase == .attaching ? .interrupted : .mappedNotMounted
        case (false, true): return .staleMount
        case (false, false): return phase == .attaching || phase == .detaching ? .interrupted : .journalWithoutDevice
        }
    }

    /// Compares every journal with the rbd bus (through the provider) and the mount table after
    /// a restart, and reports drift; with `repair`, finishes interrupted detaches, drops journals
    /// whose device is gone, unmounts stale global mounts no workload uses, and detaches a
    /// device that is attached but not mounted (an attach that failed and could not undo its
    /// map, or one interrupted before the mount): the volume converges to detached, and the next
    /// `attach` starts over. Without `repair`, such a device is reported for `attach` or `detach`.
    public func reconcile(repair: Bool = false) throws(VolumeError) -> [ReconcileFinding] {
        var findings: [ReconcileFinding] = []
        let keys = journal.keys()
        for key in keys {
            let finding = try withVolumeLock(key) { () throws(VolumeError) -> ReconcileFinding? in
                guard var record = try journal.load(key) else { return nil }
                let global = globalPath(of: record)
                let attached: Bool
                do throws(Provider.Failure) {
                    attached =
                        try record.identity.map { (identity) throws(Provider.Failure) in
                            try provider.isAttached(identity)
                        } ?? false
                } catch {
                    // Unknown is not "gone": never repair on a failed read.
                    throw VolumeError(
                        .device, "cannot tell whether the device of \(key) is attached: \(error)",
                        cause: error.volumeCause)
                }
                let access = record.access ?? .filesystem
                let mounted = try isMounted(volumePath(of: record))
                let kind = Self.classify(
                    phase: record.phase, deviceAttached: attached, globalMounted: mounted,
                    identityKnown: record.identity != nil)
                var detail: String
                var repaired = false
                switch kind {
                case .consistent:
                    detail = "device \(record.devicePath ?? "?") mounted at \(global)"
                    if repair && record.phase != .mounted {
                        record.phase = .mounted
                        try journal.save(record)
                        repaired = true
                    }
                case .mappedNotMounted:
                    detail =
                        "device \(record.devicePath ?? "?") is attached but \(global) is not mounted; "
                        + "attach the volume again to mount it, or detach it"
                    if repair, let identity = record.identity {
                        do throws(Provider.Failure) { try provider.detach(identity) } catch {
                            throw VolumeError(
                                .device, "cannot detach the unmounted device of \(key): \(error)",
                                cause: error.volumeCause)
                        }
                        try cleanupVolume(at: global, access)
                        try journal.remove(key)
                        detail = "device \(record.devicePath ?? "?") was attached but not mounted; it was detached"
                        repaired = true
                    }
                case .interrupted, .journalWithoutDevice:
                    detail =
                        kind == .interrupted
                        ? "an interrupted \(record.phase == .detaching ? "detach" : "attach") left it behind"
                        : "device \(record.devicePath ?? "?") is no longer attached"
                    if record.phase == .attaching && record.identity == nil {
                        // The map may have happened before the crash without being recorded: only
                        // the next attach (which adopts it) or a detach (which finds it) can tell.
                        detail += "; a mapping may exist: attach or detach the volume to settle it"
                    } else if repair {
                        if attached, let identity = record.identity {
                            do throws(Provider.Failure) { try provider.detach(identity) } catch {
                                throw VolumeError(
                                    .device, "cannot finish detaching \(key): \(error)",
                                    cause: error.volumeCause)
                            }
                        }
                        try cleanupVolume(at: global, access)
                        try journal.remove(key)
                        repaired = true
                    }
                case .staleMount:
                    let users = try workloadMounts(of: volumePath(of: record))
                    detail = "\(global) is mounted but device \(record.devicePath ?? "?") is gone"
                    if users.isEmpty {
                        if repair {
                            try cleanupVolume(at: global, access)
                            try journal.remove(key)
                            repaired = true
                        }
                    } else {
                        detail += "; workloads still use it: \(users.map(\.string).joined(separator: ", "))"
                    }
                case .untrackedMount:
                    detail = ""
                }
                return ReconcileFinding(key: key, kind: kind, detail: detail, repaired: repaired)
            }
            if let finding { findings.append(finding) }
        }
        let journaled = Set(keys)
        for entry in try mountTable().mounts(under: mountsDirectory) {
            guard let key = entry.target.lastComponent?.string, entry.target.removingLastComponent() == mountsDirectory,
                !journaled.contains(key)
            else { continue }
            findings.append(
                ReconcileFinding(
                    key: key, kind: .untrackedMount,
                    detail: "\(entry.target) is mounted (device \(entry.device)) but has no journal", repaired: false))
        }
        return findings
    }
}
