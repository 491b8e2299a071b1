import LinuxSystem
import Synchronization
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// Makes a filesystem on a device, only on positive evidence that the device is blank.
///
/// Runs `mkfs.<fsType>` through `Subprocess.run` (the one program BlockMount runs) with
/// thin-provisioning-friendly defaults (no discard, lazy inode table and journal init), the
/// caller's options appended; never for a read-only request, never over a partition table,
/// unknown data or a filesystem. At most `FilesystemFormatter.concurrencyLimit` mkfs run at once in the
/// process (concurrent mkfs of large devices ran nodes out of memory, kubernetes#115379);
/// later callers wait in FIFO order.
public struct FilesystemFormatter: Sendable {
    /// What `format` did.
    public enum Outcome: Sendable, Hashable {
        /// The device was blank and now holds a filesystem of the requested type.
        case formatted
        /// The device already held a filesystem (of `type`, maybe not the requested one);
        /// nothing was written.
        case existing(type: String)
    }

    /// The result of `format`.
    public struct Result: Sendable {
        /// What was done.
        public var outcome: Outcome
        /// The probe taken (under the concurrency slot) right before deciding.
        public var before: ProbeResult
        /// The probe after mkfs (equal to `before` when nothing was done).
        public var after: ProbeResult
        /// Time spent waiting for a mkfs slot.
        public var queueWait: Duration
        /// Time spent probing and running mkfs.
        public var duration: Duration
    }

    /// How long mkfs may run before it is killed.
    public var timeout: Duration
    /// How long to wait for a mkfs slot before giving up.
    public var queueTimeout: Duration

    /// A formatter whose mkfs is killed after `timeout` and whose wait for a free mkfs slot
    /// gives up after `queueTimeout`.
    public init(timeout: Duration = .seconds(600), queueTimeout: Duration = .seconds(600)) {
        self.timeout = timeout
        self.queueTimeout = queueTimeout
    }

    /// How many mkfs may run at once in this process (default 2).
    public static var concurrencyLimit: Int {
        get { FormatQueue.shared.limit }
        set { FormatQueue.shared.limit = newValue }
    }

    /// Checks that `fsType` can name a filesystem and its `mkfs.<fsType>` program: 1 to 32
    /// lowercase letters and digits (`ext4`, `xfs`, `btrfs`). Callers check this before any
    /// kernel write (map), so that a bad type never leaves a mapping behind a failure.
    ///
    /// - Throws: `MountError` `.invalidOptions`.
    public static func validateFilesystemType(_ fsType: String) throws(MountError) {
        guard !fsType.isEmpty, fsType.utf8.count <= 32,
            fsType.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) })
        else {
            throw MountError(
                .invalidOptions,
                "\"\(printable(fsType))\" is not a filesystem type (lowercase letters and digits: ext4, xfs, …)")
        }
    }

    /// Checks the caller's mkfs arguments (ceph-csi's `mkfsOptions`, split on whitespace): each
    /// is 1 to 256 printable bytes without whitespace, and none may name another device or file
    /// (an argument starting with `/`, or `--`, which would end the options: mkfs would take it
    /// for the device to format, or our device for a size).
    ///
    /// - Throws: `MountError` `.invalidOptions` naming the argument.
    public static func validateFormatOptions(_ options: [String]) throws(MountError) {
        for option in options {
            let bytes = Array(option.utf8)
            guard (1...256).contains(bytes.count), bytes.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
                throw MountError(
                    .invalidOptions,
                    "mkfs argument \"\(printable(option))\" is empty, too long or holds whitespace "
                        + "or control characters")
            }
            guard bytes[0] != UInt8(ascii: "/"), option != "--" else {
                throw MountError(
                    .invalidOptions,
                    "mkfs argument \"\(printable(option))\" would name the device or end the options; "
                        + "only options and their values may be given")
            }
        }
    }

    /// The options put before the caller's for `fsType`.
    ///
    /// ext4/ext3: `-F -m0 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1` (a thin RBD
    /// image is already zero: no discard pass, no eager init; ceph-csi#621/#666); xfs: `-K`
    /// (no discard). `-f` is not needed for xfs: we only ever format a blank device.
    public static func defaultOptions(for fsType: String) -> [String] {
        switch fsType {
        case "ext4", "ext3": ["-F", "-m0", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1"]
        case "ext2": ["-F", "-m0"]
        case "xfs": ["-K"]
        default: []
        }
    }

    /// Formats `device` with `fsType` if, and only if, a probe finds it blank.
    ///
    /// The probe is taken after the concurrency slot is won, right before mkfs; after mkfs the
    /// device is probed again and must hold a filesystem of `fsType`.
    ///
    /// - Parameters:
    ///   - device: the block device (or image file).
    ///   - fsType: `ext4`, `xfs`, … (`mkfs.<fsType>` must exist).
    ///   - options: appended after the defaults, before the device.
    ///   - readOnly: a read-only request; a blank device then fails with `.readOnlyBlank`.
    /// - Returns: `.formatted`, or `.existing(type:)` when a filesystem was already there.
    /// - Throws: `MountError` `.readOnlyBlank`, `.partitioned`, `.unknownData`, `.probeFailed`,
    ///   `.formatFailed` (mkfs missing, failed, timed out, or the re-probe did not find
    ///   `fsType`; the end of mkfs' output is in the message), `.formatFailed` on queue timeout.
    /// - Touches: the device (probe reads), posix_spawn(3) of `mkfs.<fsType>`.
    public func format(
        device: FilePath, fsType: String, options: [String] = [], readOnly: Bool = false
    ) throws(MountError) -> Result {
        try format(
            device: device, fsType: fsType, options: options, readOnly: readOnly, probedBlank: nil, verify: true,
            resuming: false, willFormat: {})
    }

    /// `format`, for a caller that has just probed the device blank (`probedBlank`: the queue's
    /// mark taken before that probe) and mounts it right after (`verify: false`: mount(2) of
    /// `fsType` checks what mkfs made, so no probe follows mkfs).
    ///
    /// The probe under the slot is skipped only when no mkfs of this process ran or started
    /// between the mark and the slot (the caller's probe is then as fresh as a new one);
    /// otherwise the device is probed again as `format` does.
    ///
    /// `resuming`: the caller proved this device blank earlier, began formatting it, and has
    /// held it without a break since (its journal says so): an interrupted mkfs leaves data
    /// without a signature (ext4 writes its superblock last), so `.nonZeroData` and conflicting
    /// signatures are formatted again (xfs with `-f`); a complete filesystem is still kept, a
    /// partition table or another signature still refused.
    /// `willFormat` runs under the slot after the decision to format and before mkfs starts
    /// (a journal records "formatting" there); when it throws, nothing is formatted.
    func format(
        device: FilePath, fsType: String, options: [String], readOnly: Bool, probedBlank: FormatQueue.Mark?,
        verify: Bool, resuming: Bool = false, willFormat: () throws(MountError) -> Void = {},
        queue: FormatQueue = .shared
    ) throws(MountError) -> Result {
        // The type becomes a program name (mkfs.<type>): letters and digits only.
        try Self.validateFilesystemType(fsType)
        let clock = ContinuousClock()
        let queued = clock.now
        let slot = try queue.acquire(timeout: queueTimeout, device: device)
        defer { queue.release(slot) }
        let grantsBefore = slot.grantsBefore
        let start = clock.now
        let queueWait = start - queued

        let before: ProbeResult
        if let mark = probedBlank, mark.idle, mark.grants == grantsBefore {
            before = .blank
        } else {
            before = try BlockProbe.probe(device).result
        }
        switch before {
        case .filesystem(let type, _, _):
            return Result(
                outcome: .existing(type: type), before: before, after: before,
                queueWait: queueWait, duration: clock.now - start)
        case .partitionTable(let type):
            throw MountError(
                .partitioned,
                "\(device) has a \(type) partition table; it is never formatted. "
                    + "Use a whole device without partitions", path: device)
        case .unknownData(nil) where resuming, .nonZeroData where resuming:
            break  // what the interrupted mkfs of ours left: format again (see `resuming`)
        case .unknownData(let type):
            throw MountError(
                .unknownData,
                "\(device) holds data that is not a filesystem"
                    + (type.map { " (a \($0) signature)" } ?? " (conflicting signatures)")
                    + "; it is never formatted. Wipe it deliberately (wipefs) if it is yours", path: device)
        case .nonZeroData(let offset):
            throw MountError(
                .unknownData,
                "\(device) has no filesystem signature, but byte \(offset) is not zero: "
                    + "it holds data of some kind (or a mkfs that was interrupted on another mapping), "
                    + "and is never formatted as blank. Wipe it deliberately (wipefs -a, blkdiscard) "
                    + "if it is yours", path: device)
        case .blank:
            if readOnly {
                throw MountError(
                    .readOnlyBlank,
                    "\(device) is blank and was asked for read-only: there is "
                        + "no filesystem to mount. Mount it read-write once to format it", path: device)
            }
        }

        // An interrupted mkfs.xfs may have left a superblock that mkfs.xfs refuses to overwrite.
        let force = resuming && fsType == "xfs" ? ["-f"] : []
        let arguments = ["mkfs.\(fsType)"] + Self.defaultOptions(for: fsType) + force + options + [device.string]
        try willFormat()
        let run: ProcessResult
        do {
            run = try Subprocess.run(arguments, timeout: timeout)
        } catch {
            throw MountError(
                .formatFailed,
                "cannot run mkfs.\(fsType) for \(device); is the tool for \(fsType) "
                    + "installed (e2fsprogs, xfsprogs)?", path: device, cause: error)
        }
        if !run.succeeded {
            let why =
                run.timedOut
                ? "timed out and was killed"
                : "exited with \(run.exitCode.map(String.init) ?? "signal \(run.signal ?? 0)")"
            throw MountError(
                .formatFailed, "mkfs.\(fsType) on \(device) \(why): \(String(run.output.suffix(400)))",
                path: device)
        }
        guard verify else {
            return Result(
                outcome: .formatted, before: before, after: .filesystem(type: fsType, uuid: nil, label: nil),
                queueWait: queueWait, duration: clock.now - start)
        }
        let after = try BlockProbe.probe(device).result
        guard after.filesystemType == fsType else {
            throw MountError(
                .formatFailed, "mkfs.\(fsType) on \(device) succeeded but the device now shows \(after)",
                path: device)
        }
        return Result(
            outcome: .formatted, before: before, after: after, queueWait: queueWait,
            duration: clock.now - start)
    }
}

/// The process-wide FIFO of mkfs runs: at most `limit` at once, waiters served in order.
final class FormatQueue: Sendable {
    static let shared = FormatQueue(limit: 2)

    private struct State {
        var limit: Int
        var active = 0
        var nextTicket: UInt64 = 0
        var waiting: [UInt64] = []
        /// Slots granted so far.
        var grants: UInt64 = 0
        /// The devices (see `FormatQueue.key`) that hold a slot: one mkfs per device at a time.
        var busy: Set<String> = []
    }

    /// What identifies a device in the queue: its device number for a block device (however
    /// it is named: `/dev/rbd0`, a `/dev/disk/by-*` link), its path for anything else.
    static func key(_ device: FilePath) -> String {
        if let st = try? Files.status(device, followSymlinks: true), st.st_mode & S_IFMT == S_IFBLK {
            return "block \(st.st_rdev)"
        }
        return "path \(device)"
    }

    /// The queue's state at one moment, to tell later whether any mkfs ran or started since.
    struct Mark: Sendable, Hashable {
        /// Slots granted before the mark.
        var grants: UInt64
        /// No mkfs ran and none waited at the mark.
        var idle: Bool
    }

    /// A granted slot; give it back with `release(_:)`.
    struct Slot: Sendable {
        /// Slots granted before this one.
        var grantsBefore: UInt64
        /// The device's key when the slot was granted (released as such even if the device
        /// node is gone or renamed by then: a key left busy would block that device for good).
        var key: String
    }

    /// The queue now.
    func mark() -> Mark {
        state.withLock { Mark(grants: $0.grants, idle: $0.active == 0 && $0.waiting.isEmpty) }
    }

    private let state: Mutex<State>

    init(limit: Int) { state = Mutex(State(limit: max(1, limit))) }

    var limit: Int {
        get { state.withLock { $0.limit } }
        set { state.withLock { $0.limit = max(1, newValue) } }
    }

    /// How many runs hold a slot now.
    var active: Int { state.withLock { $0.active } }

    /// Waits for a slot (polling; mkfs takes far longer than the pause) until `timeout`, and
    /// for no other slot to hold the same device (two callers of one process formatting one
    /// device: the second then probes after the first's mkfs, and finds its filesystem);
    /// returns the slot. Release it with `release(_:)`.
    func acquire(timeout: Duration, device: FilePath) throws(MountError) -> Slot {
        let key = Self.key(device)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let ticket = state.withLock { s in
            defer { s.nextTicket += 1 }
            s.waiting.append(s.nextTicket)
            return s.nextTicket
        }
        var pause: UInt32 = 1_000
        while true {
            let granted = state.withLock { s -> Slot? in
                guard s.waiting.first == ticket, s.active < s.limit, !s.busy.contains(key) else { return nil }
                defer { s.grants += 1 }
                s.waiting.removeFirst()
                s.active += 1
                s.busy.insert(key)
                return Slot(grantsBefore: s.grants, key: key)
            }
            if let granted { return granted }
            if clock.now >= deadline {
                state.withLock { $0.waiting.removeAll { $0 == ticket } }
                throw MountError(
                    .formatFailed,
                    "gave up waiting \(timeout) for a mkfs slot to format \(device) "
                        + "(\(limit) at a time)", path: device)
            }
            system_usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    /// Gives back a slot `acquire(timeout:device:)` granted.
    func release(_ slot: Slot) {
        state.withLock {
            $0.active -= 1
            $0.busy.remove(slot.key)
        }
    }
}
