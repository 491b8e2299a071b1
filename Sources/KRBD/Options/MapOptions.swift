// The per-mapping options of the rbd add request, typed, each with the kernel version that
// added it. Defaults put a deadline on mapping (mount_timeout) but never on I/O of a live
// filesystem (osd_request_timeout, lock_timeout stay unset unless asked for).
import LinuxSystem

/// The messenger protocol mode (`ms_mode=`, kernel 5.11).
public enum MessengerMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// msgr v1, the monitors' 6789 port.
    case legacy
    /// msgr2 with CRC integrity, port 3300.
    case crc
    /// msgr2 with encryption, port 3300.
    case secure
    /// msgr2, CRC preferred, port 3300.
    case preferCRC = "prefer-crc"
    /// msgr2, secure preferred, port 3300.
    case preferSecure = "prefer-secure"

    /// Whether this mode talks msgr2 (so needs the v2 port).
    public var usesMsgr2: Bool { self != .legacy }
}

/// Where reads go (`read_from_replica=`, kernel 5.8).
public enum ReadFromReplica: String, Sendable, Hashable, Codable, CaseIterable {
    /// Read from the primary OSD only (the default).
    case no
    /// Spread reads over every replica.
    case balance
    /// Read from the replica closest to `crush_location`.
    case localize
}

/// The compression hint sent with writes (`compression_hint=`, kernel 5.8).
public enum CompressionHint: String, Sendable, Hashable, Codable, CaseIterable {
    /// No hint.
    case none
    /// The data compresses well.
    case compressible
    /// The data does not compress (already compressed or encrypted).
    case incompressible
}

/// Options of one mapping. Every field maps to one kernel option; `nil`/`false` leaves the
/// kernel default.
///
/// Deadlines: ``mountTimeout`` defaults to 30 s (the kernel's own default is 60 s) because it
/// bounds the map write itself (monitor session, maps) and unmap since 4.2, and touches no
/// I/O. ``osdRequestTimeout`` and ``lockTimeout`` are *not* set by default: they also apply to
/// the I/O of a mapped device, where a timeout becomes EIO/ETIMEDOUT under a live filesystem
/// (a cluster hiccup would turn into a read-only or corrupted mount); set them only when
/// failing I/O is preferable to waiting.
public struct MapOptions: Sendable, Hashable {
    /// `ro`: map read-only (3.7). Snapshots are always read-only.
    public var readOnly = false
    /// `exclusive`: take the exclusive lock and refuse to hand it over (4.12).
    public var exclusive = false
    /// `lock_on_read`: take the exclusive lock on reads too (4.9).
    public var lockOnRead = false
    /// `notrim`: turn off discard (4.17).
    public var notrim = false
    /// `queue_depth=` ≥ 1 (4.2); kernel default 128.
    public var queueDepth: Int?
    /// `alloc_size=` in bytes, ≥ 512 and a power of two (5.1); kernel default 64 KiB.
    public var allocSize: Int?
    /// `lock_timeout=` seconds, 0 = forever (4.17). Also bounds lock acquisition for I/O.
    public var lockTimeout: Int?
    /// `mount_timeout=` seconds, 0 = forever: bounds the map write (and unmap). Default 30.
    public var mountTimeout: Int? = 30
    /// `osd_request_timeout=` seconds, 0 = none (4.11). Fails I/O that takes longer.
    public var osdRequestTimeout: Int?
    /// `osdkeepalive=` seconds ≥ 1; kernel default 5.
    public var osdKeepalive: Int?
    /// `osd_idle_ttl=` seconds ≥ 1; kernel default 60.
    public var osdIdleTTL: Int?
    /// `ms_mode=` (5.11). Also selects the monitor port: v1 (6789) without it or with
    /// `legacy`, v2 (3300) otherwise.
    public var messengerMode: MessengerMode?
    /// `noshare`: a kernel client of its own (its own blocklist identity).
    public var noshare = false
    /// `read_from_replica=` (5.8).
    public var readFromReplica: ReadFromReplica?
    /// `crush_location=k:v|k:v` (5.8), as (type, name) pairs.
    public var crushLocation: [CrushLocation] = []
    /// `compression_hint=` (5.8).
    public var compressionHint: CompressionHint?
    /// `rxbounce`: bounce buffers for receives (5.17), for pages that change under I/O.
    public var rxbounce = false
    /// `abort_on_full`: fail writes with ENOSPC when the pool is full instead of blocking (5.0).
    public var abortOnFull = false
    /// `notcp_nodelay` when `false` (4.0); `nil` keeps the default (on).
    public var tcpNoDelay: Bool?
    /// `nocrc` when `false`; `nil` keeps the default (on).
    public var dataCRC: Bool?
    /// `nocephx_sign_messages` when `false` (4.4); `nil` keeps the default (on).
    public var cephxSignMessages: Bool?
    /// `fsid=`: the cluster the monitors must belong to; also part of the mapping's identity.
    public var clusterFSID: String?
    /// How the monitors are tried (not a kernel option).
    public var monitorStrategy: MonitorStrategy = .allAtOnce

    /// Defaults: `mount_timeout=30`, nothing else.
    public init() {}

    /// One `crush_location` entry (`type:name`, e.g. `host:node1`).
    public struct CrushLocation: Sendable, Hashable, Codable {
        /// The CRUSH bucket type (`host`, `rack`, `zone`, …).
        public var type: String
        /// The bucket's name.
        public var name: String
        /// One `type:name` entry.
        public init(type: String, name: String) {
            self.type = type
            self.name = name
        }
    }

    /// One kernel option and where it came from, for version checks and rendering.
    struct Rendered {
        var text: String
        var key: String
        var since: KernelVersion?
    }

    /// The options as kernel tokens, in a fixed order, with the version that added each.
    var rendered: [Rendered] {
        var out: [Rendered] = []
        func add(_ key: String, _ value: String? = nil, _ since: (Int, Int)?) {
            out.append(
                Rendered(
                    text: value.map { "\(key)=\($0)" } ?? key, key: key,
                    since: since.map { KernelVersion(major: $0.0, minor: $0.1) }))
        }
        if readOnly { add("ro", nil, (3, 7)) }
        if exclusive { add("exclusive", nil, (4, 12)) }
        if lockOnRead { add("lock_on_read", nil, (4, 9)) }
        if notrim { add("notrim", nil, (4, 17)) }
        if let queueDepth { add("queue_depth", "\(queueDepth)", (4, 2)) }
        if let allocSize { add("alloc_size", "\(allocSize)", (5, 1)) }
        if let lockTimeout { add("lock_timeout", "\(lockTimeout)", (4, 17)) }
        if let mountTimeout { add("mount_timeout", "\(mountTimeout)", nil) }
        if let osdRequestTimeout { add("osd_request_timeout", "\(osdRequestTimeout)", (4, 11)) }
        if let osdKeepalive { add("osdkeepalive", "\(osdKeepalive)", nil) }
        if let osdIdleTTL { add("osd_idle_ttl", "\(osdIdleTTL)", nil) }
        if let messengerMode { add("ms_mode", messengerMode.rawValue, (5, 11)) }
        if noshare { add("noshare", nil, nil) }
        if let readFromReplica { add("read_from_replica", readFromReplica.rawValue, (5, 8)) }
        if !crushLocation.isEmpty {
            add("crush_location", crushLocation.map { "\($0.type):\($0.name)" }.joined(separator: "|"), (5, 8))
        }
        if let compressionHint { add("compression_hint", compressionHint.rawValue, (5, 8)) }
        if rxbounce { add("rxbounce", nil, (5, 17)) }
        if abortOnFull { add("abort_on_full", nil, (5, 0)) }
        if tcpNoDelay == false { add("notcp_nodelay", nil, (4, 0)) }
        if dataCRC == false { add("nocrc", nil, nil) }
        if cephxSignMessages == false { add("nocephx_sign_messages", nil, (4, 4)) }
        if let clusterFSID { add("fsid", clusterFSID, nil) }
        return out
    }

    /// Checks ranges and formats, and (when `kernel` is known) that the kernel has every option.
    ///
    /// - Throws: `RBDError` `.invalidOption` naming the option, the rule, or the kernel version it needs.
    func validate(for kernel: KernelVersion?) throws(RBDError) {
        func range(_ value: Int?, _ key: String, min: Int, max: Int = Int(UInt32.max), _ rule: String) throws(RBDError)
        {
            if let value, value < min || value > max {
                throw RBDError(.invalidOption, "\(key)=\(value) is out of range: \(rule)")
            }
        }
        // Seconds become milliseconds in libceph, which refuses more than INT_MAX/1000.
        let secondsLimit = 2_147_483
        try range(queueDepth, "queue_depth", min: 1, "at least 1")
        try range(allocSize, "alloc_size", min: 512, "at least 512 and a power of two")
        if let allocSize, allocSize & (allocSize - 1) != 0 {
            throw RBDError(.invalidOption, "alloc_size=\(allocSize) is not a power of two")
        }
        try range(lockTimeout, "lock_timeout", min: 0, max: secondsLimit, "seconds, 0 = forever (at most 2147483 s)")
        try range(mountTimeout, "mount_timeout", min: 0, max: secondsLimit, "seconds, 0 = forever (at most 2147483 s)")
        try range(
            osdRequestTimeout, "osd_request_timeout", min: 0, max: secondsLimit,
            "seconds, 0 = no limit (at most 2147483 s)")
        try range(osdKeepalive, "osdkeepalive", min: 1, max: secondsLimit, "at least 1 second (at most 2147483 s)")
        try range(osdIdleTTL, "osd_idle_ttl", min: 1, max: secondsLimit, "at least 1 second (at most 2147483 s)")
        for entry in crushLocation {
            for part in [entry.type, entry.name] where part.isEmpty || !Self.isPlainValue(part, alsoForbidden: ":|") {
                throw RBDError(
                    .invalidOption,
                    "crush_location entry '\(printable(entry.type)):\(printable(entry.name))' must be type:name without whitespace, ',', '=', ':' or '|'"
                )
            }
        }
        if let fsid = clusterFSID, !Self.isUUID(fsid) {
            throw RBDError(.invalidOption, "fsid '\(printable(fsid))' is not a UUID")
        }
        if let kernel {
            for option in rendered {
                if let since = option.since, kernel < since {
                    throw RBDError(
                        .invalidOption,
                        "option \(option.key) needs kernel \(since.major).\(since.minor) or later; this kernel is \(kernel.release)"
                    )
                }
            }
        }
    }

    /// No whitespace, control characters (C0, DEL, C1: `printable`'s set), `,` or `=` (the kernel
    /// splits on them).
    static func isPlainValue(_ text: String, alsoForbidden: String = "") -> Bool {
        text.unicodeScalars.allSatisfy { s in
            s.value > 0x20 && !(0x7f...0x9f).contains(s.value) && !s.properties.isWhitespace
                && !",=".unicodeScalars.contains(s)
                && !alsoForbidden.unicodeScalars.contains(s)
        }
    }

    static func isUUID(_ text: String) -> Bool {
        // ASCII hex only, by bytes: Character.isHexDigit also takes fullwidth digits (U+FF10…),
        // which the kernel's fsid parser refuses.
        let groups = text.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12]
            && groups.allSatisfy {
                $0.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) }
            }
    }
}
