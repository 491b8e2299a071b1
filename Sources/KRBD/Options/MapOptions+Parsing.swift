// `-o a,b=c` strings (as `rbd device map -o` takes them) into typed MapOptions. Unknown keys are
// refused here, before anything is written to sysfs.
import LinuxSystem

extension MapOptions {
    /// Options from a comma-separated `key[=value]` list, applied over the defaults.
    ///
    /// Accepts the kernel's rbd and libceph per-mapping options (`ro`/`read_only`, `rw`/
    /// `read_write`, `exclusive`, `lock_on_read`, `notrim`, `queue_depth`, `alloc_size`,
    /// `lock_timeout`, `mount_timeout`, `osd_request_timeout`, `osdkeepalive`, `osd_idle_ttl`,
    /// `ms_mode`, `share`/`noshare`, `read_from_replica`, `crush_location`, `compression_hint`,
    /// `rxbounce`, `abort_on_full`, `[no]tcp_nodelay`, `[no]crc`, `[no]cephx_sign_messages`,
    /// `fsid`) and the `rbd` CLI's `udev`/`noudev` (ignored: krbd never waits for udev).
    ///
    /// - Throws: `RBDError` `.invalidOption` for an unknown key, a missing or malformed value,
    ///   or `name`/`secret`/`key`/`_pool_ns` (set through credentials and the spec instead).
    public init(parsing text: String) throws(RBDError) {
        self.init()
        try apply(text)
    }

    /// Applies a comma-separated `key[=value]` list to these options (see ``init(parsing:)``).
    public mutating func apply(_ text: String) throws(RBDError) {
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let token = String(item)
            let key: String
            let value: String?
            if let equals = token.firstIndex(of: "=") {
                key = String(token[..<equals])
                value = String(token[token.index(after: equals)...])
            } else {
                key = token
                value = nil
            }
            try set(key, value)
        }
    }

    private mutating func set(_ key: String, _ value: String?) throws(RBDError) {
        let shown = printable(key)
        func flag() throws(RBDError) {
            if value != nil { throw RBDError(.invalidOption, "option \(shown) takes no value") }
        }
        func required() throws(RBDError) -> String {
            guard let value, !value.isEmpty else { throw RBDError(.invalidOption, "option \(shown) needs a value") }
            guard MapOptions.isPlainValue(value, alsoForbidden: "") else {
                throw RBDError(
                    .invalidOption, "option \(shown): value '\(printable(value))' contains whitespace, ',' or '='")
            }
            return value
        }
        func integer() throws(RBDError) -> Int {
            let text = try required()
            guard let number = Int(text) else {
                throw RBDError(.invalidOption, "option \(shown)=\(text) is not an integer")
            }
            return number
        }
        func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws(RBDError) -> E where E.RawValue == String {
            let text = try required()
            guard let choice = E(rawValue: text) else {
                let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
                throw RBDError(.invalidOption, "option \(shown)=\(text) is not one of: \(allowed)")
            }
            return choice
        }
        switch key {
        case "ro", "read_only": try flag(); readOnly = true
        case "rw", "read_write": try flag(); readOnly = false
        case "exclusive": try flag(); exclusive = true
        case "lock_on_read": try flag(); lockOnRead = true
        case "notrim": try flag(); notrim = true
        case "trim": try flag(); notrim = false
        case "queue_depth": queueDepth = try integer()
        case "alloc_size": allocSize = try integer()
        case "lock_timeout": lockTimeout = try integer()
        case "mount_timeout": mountTimeout = try integer()
        case "osd_request_timeout": osdRequestTimeout = try integer()
        case "osdkeepalive": osdKeepalive = try integer()
        case "osd_idle_ttl": osdIdleTTL = try integer()
        case "ms_mode": messengerMode = try choice(MessengerMode.self)
        case "share": try flag(); noshare = false
        case "noshare": try flag(); noshare = true
        case "read_from_replica": readFromReplica = try choice(ReadFromReplica.self)
        case "compression_hint": compressionHint = try choice(CompressionHint.self)
        case "rxbounce": try flag(); rxbounce = true
        case "abort_on_full": try flag(); abortOnFull = true
        case "tcp_nodelay": try flag(); tcpNoDelay = true
        case "notcp_nodelay": try flag(); tcpNoDelay = false
        case "crc": try flag(); dataCRC = true
        case "nocrc": try flag(); dataCRC = false
        case "cephx_sign_messages": try flag(); cephxSignMessages = true
        case "nocephx_sign_messages": try flag(); cephxSignMessages = false
        case "fsid": clusterFSID = try required()
        case "crush_location":
            var entries: [CrushLocation] = []
            // Scalars, not Characters, as the kernel splits bytes: a combining mark after `|` or
            // `:` would make one Character of the two and keep the separator inside a name.
            for pair in try required().unicodeScalars.split(separator: "|", omittingEmptySubsequences: false) {
                let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw RBDError(.invalidOption, "crush_location entry '\(printable(String(pair)))' is not type:name")
                }
                entries.append(CrushLocation(type: String(parts[0]), name: String(parts[1])))
            }
            crushLocation = entries
        case "udev", "noudev": try flag()  // rbd CLI only; krbd never waits for udev.
        case "name", "secret", "key":
            throw RBDError(.invalidOption, "option \(key) is set from the credentials (--id, --keyring), not with -o")
        case "_pool_ns":
            throw RBDError(.invalidOption, "option _pool_ns is set from the spec (pool/namespace/image), not with -o")
        default:
            throw RBDError(.invalidOption, "unknown map option '\(shown)'")
        }
    }
}
