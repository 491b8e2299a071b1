// MapOptions: the `-o a,b=c` list. Parsing must not let a value carry what the kernel splits on,
// must be idempotent, and must be lossless: the options written back as a list parse to the
// same value.
import KRBD

enum MapOptionsFuzz {
    static func run(_ input: FuzzInput) {
        let text = input.text
        let options: MapOptions
        do {
            options = try MapOptions(parsing: text)
        } catch {
            requirePrintable(error, input: text)
            return
        }
        if let fsid = options.clusterFSID { requirePlain(fsid, "fsid", from: text) }
        for entry in options.crushLocation {
            requirePlain(entry.type, "crush_location type", from: text, alsoForbidden: ":|")
            requirePlain(entry.name, "crush_location name", from: text, alsoForbidden: ":|")
        }
        var twice = options
        do {
            try twice.apply(text)
        } catch {
            require(false, "\(quoted(text)) parses once but not twice: \(error)")
        }
        require(twice == options, "\(quoted(text)) applied twice differs from once")
        let canonical = list(options)
        let again = try? MapOptions(parsing: canonical)
        require(
            again == options,
            "\(quoted(text)) written back as \(quoted(canonical)) parses differently")
    }

    static func requirePlain(_ value: String, _ what: String, from text: String, alsoForbidden: String = "") {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy {
                !isControl($0) && !$0.properties.isWhitespace && !",=\(alsoForbidden)".unicodeScalars.contains($0)
            }
        require(plain, "\(quoted(text)) was accepted with the \(what) \(quoted(value))")
    }

    /// The options as an `-o` list, from their public fields (one token per field that differs
    /// from the default, or is an integer).
    static func list(_ o: MapOptions) -> String {
        var tokens: [String] = [o.readOnly ? "ro" : "rw"]
        func flag(_ on: Bool, _ yes: String, _ no: String? = nil) {
            if on { tokens.append(yes) } else if let no { tokens.append(no) }
        }
        func value(_ key: String, _ value: (some CustomStringConvertible)?) {
            if let value { tokens.append("\(key)=\(value)") }
        }
        func optional(_ on: Bool?, _ yes: String, _ no: String) {
            if let on { tokens.append(on ? yes : no) }
        }
        flag(o.exclusive, "exclusive")
        flag(o.lockOnRead, "lock_on_read")
        flag(o.notrim, "notrim", "trim")
        value("queue_depth", o.queueDepth)
        value("alloc_size", o.allocSize)
        value("lock_timeout", o.lockTimeout)
        value("mount_timeout", o.mountTimeout)
        value("osd_request_timeout", o.osdRequestTimeout)
        value("osdkeepalive", o.osdKeepalive)
        value("osd_idle_ttl", o.osdIdleTTL)
        value("ms_mode", o.messengerMode?.rawValue)
        flag(o.noshare, "noshare", "share")
        value("read_from_replica", o.readFromReplica?.rawValue)
        if !o.crushLocation.isEmpty {
            tokens.append("crush_location=" + o.crushLocation.map { "\($0.type):\($0.name)" }.joined(separator: "|"))
        }
        value("compression_hint", o.compressionHint?.rawValue)
        flag(o.rxbounce, "rxbounce")
        flag(o.abortOnFull, "abort_on_full")
        optional(o.tcpNoDelay, "tcp_nodelay", "notcp_nodelay")
        optional(o.dataCRC, "crc", "nocrc")
        optional(o.cephxSignMessages, "cephx_sign_messages", "nocephx_sign_messages")
        value("fsid", o.clusterFSID)
        return tokens.joined(separator: ",")
    }
}
