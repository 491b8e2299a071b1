// Ceph monitor addresses: parsed from arguments and from ceph.conf `mon_host`, rendered in the
// only syntax the kernel takes (`ip:port`, `[ipv6]:port`, comma-separated, at most 31).
import LinuxSystem

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// One Ceph monitor: an IP address with its msgr v1 (legacy) and/or msgr v2 port.
///
/// Hostnames are refused, not resolved: the kernel only resolves names when it was built with
/// `CONFIG_CEPH_LIB_USE_DNS_RESOLVER` (else EINVAL), and resolving in the node agent would put
/// DNS on the map path; give IP addresses (as `mon_host` in ceph.conf usually does).
public struct MonitorAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The IPv4 or IPv6 address, without brackets.
    public let ip: String
    /// Whether ``ip`` is an IPv6 address.
    public let isIPv6: Bool
    /// The msgr v1 (legacy) port, if the monitor speaks v1 there.
    public let legacyPort: UInt16?
    /// The msgr v2 port, if the monitor speaks v2 there.
    public let msgr2Port: UInt16?

    /// The v1 port monitors listen on by default.
    public static let defaultLegacyPort: UInt16 = 6789
    /// The v2 port monitors listen on by default.
    public static let defaultMsgr2Port: UInt16 = 3300
    /// How many monitors the kernel takes (CEPH_MAX_MON).
    public static let maximumCount = 31

    /// A monitor at `ip` with explicit ports.
    ///
    /// - Throws: `RBDError` `.invalidMonitor` when `ip` is not an IPv4 or IPv6 address, or no port is given.
    public init(ip: String, legacyPort: UInt16? = nil, msgr2Port: UInt16? = nil) throws(RBDError) {
        guard let v6 = Self.classify(ip) else { throw Self.notAnAddress(ip) }
        guard legacyPort != nil || msgr2Port != nil else {
            throw RBDError(.invalidMonitor, "monitor \(ip) has neither a v1 nor a v2 port")
        }
        self.ip = ip
        self.isIPv6 = v6
        self.legacyPort = legacyPort
        self.msgr2Port = msgr2Port
    }

    /// Parses one address as ceph.conf and `-m` do: `ip` (both 6789 and 3300), `ip:port`
    /// (3300 is v2, any other port v1), `[ipv6]`, `[ipv6]:port`, `v1:ip:port[/nonce]`,
    /// `v2:ip:port[/nonce]`, or a bracketed vector `[v2:ip:3300/0,v1:ip:6789/0]`.
    ///
    /// - Throws: `RBDError` `.invalidMonitor` for hostnames, bad ports and bad syntax.
    public init(parsing text: String) throws(RBDError) {
        let trimmed = text.trimmingCharacters(in: " \t")
        if trimmed.hasPrefix("[v1:") || trimmed.hasPrefix("[v2:") || trimmed.hasPrefix("[any:") {
            guard trimmed.hasSuffix("]") else { throw Self.syntax(text) }
            let inner = trimmed.dropFirst().dropLast()
            var ip: String?
            var legacy: UInt16?
            var msgr2: UInt16?
            for part in Self.splitVector(inner) {
                let one = try MonitorAddress(parsing: String(part))
                if let ip, ip != one.ip {
                    throw RBDError(
                        .invalidMonitor,
                        "'\(printable(text))': one monitor's address vector names two hosts (\(ip), \(one.ip))")
                }
                ip = one.ip
                legacy = legacy ?? one.legacyPort
                msgr2 = msgr2 ?? one.msgr2Port
            }
            guard let ip else { throw Self.syntax(text) }
            try self.init(ip: ip, legacyPort: legacy, msgr2Port: msgr2)
            return
        }
        var body = Substring(trimmed)
        var kind: Substring?
        for prefix in ["v1:", "v2:", "any:"] where body.hasPrefix(prefix) {
            kind = body.prefix(prefix.count - 1)
            body = body.dropFirst(prefix.count)
        }
        if let slash = body.lastIndex(of: "/") {
            // The nonce (`/0`) means nothing to the kernel.
            guard body[body.index(after: slash)...].allSatisfy(\.isNumber) else { throw Self.syntax(text) }
            body = body[..<slash]
        }
        var host: Substring
        var port: UInt16?
        if body.hasPrefix("[") {
            guard let close = body.firstIndex(of: "]") else { throw Self.syntax(text) }
            host = body[body.index(after: body.startIndex)..<close]
            let after = body[body.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Self.syntax(text) }
                port = try Self.port(after.dropFirst(), text)
            }
            guard Self.classify(String(host)) == true else { throw Self.notAnAddress(String(host)) }
        } else if body.filter({ $0 == ":" }).count > 1 {
            // A bare IPv6 address (no port possible without brackets).
            host = body
            guard Self.classify(String(host)) == true else { throw Self.notAnAddress(String(host)) }
        } else {
            if let colon = body.firstIndex(of: ":") {
                host = body[..<colon]
                port = try Self.port(body[body.index(after: colon)...], text)
            } else {
                host = body
            }
            guard Self.classify(String(host)) == false else { throw Self.notAnAddress(String(host)) }
        }
        switch kind {
        case "v1": try self.init(ip: String(host), legacyPort: port ?? Self.defaultLegacyPort)
        case "v2": try self.init(ip: String(host), msgr2Port: port ?? Self.defaultMsgr2Port)
        default:
            switch port {
            case nil:
                try self.init(ip: String(host), legacyPort: Self.defaultLegacyPort, msgr2Port: Self.defaultMsgr2Port)
            case Self.defaultMsgr2Port?: try self.init(ip: String(host), msgr2Port: port)
            case let port?: try self.init(ip: String(host), legacyPort: port)
            }
        }
    }

    /// Parses a `mon_host` value or a list of `--mon` arguments: addresses separated by `,`,
    /// `;` or whitespace, bracketed vectors kept whole. Duplicates (same ip) are merged.
    ///
    /// - Throws: `RBDError` `.invalidMonitor` for an empty list, more than 31 monitors, or any bad address.
    public static func parseList(_ text: String) throws(RBDError) -> [MonitorAddress] {
        var result: [MonitorAddress] = []
        for token in splitVector(Substring(text), separators: ",; \t\n") where !token.isEmpty {
            let address = try MonitorAddress(parsing: String(token))
            if let index = result.firstIndex(where: { $0.ip == address.ip }) {
                let old = result[index]
                result[index] = try MonitorAddress(
                    ip: old.ip, legacyPort: old.legacyPort ?? address.legacyPort,
                    msgr2Port: old.msgr2Port ?? address.msgr2Port)
            } else {
                result.append(address)
            }
        }
        if result.isEmpty { throw RBDError(.invalidMonitor, "no monitor address in '\(printable(text))'") }
        if result.count > maximumCount {
            throw RBDError(.invalidMonitor, "\(result.count) monitors given; the kernel takes at most \(maximumCount)")
        }
        return result
    }

    /// The `ip:port` the kernel should dial for `mode` (v1 port without ms_mode or with
    /// `legacy`, v2 port for every msgr2 mode).
    ///
    /// - Throws: `RBDError` `.invalidMonitor` when the monitor has no port for that protocol.
    public func rendered(for mode: MessengerMode?) throws(RBDError) -> String {
        let wantsV2 = mode?.usesMsgr2 ?? false
        guard let port = wantsV2 ? msgr2Port : legacyPort else {
            let fix =
                wantsV2
                ? "give its v2 address (port 3300) or map with ms_mode=legacy"
                : "give its v1 address (port 6789) or map with ms_mode=prefer-crc (kernel 5.11+)"
            throw RBDError(
                .invalidMonitor,
                "monitor \(self) has no \(wantsV2 ? "msgr2" : "v1") port for ms_mode=\(mode?.rawValue ?? "(none)"); \(fix)"
            )
        }
        return isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    /// ceph.conf style: `[v2:ip:3300/0,v1:ip:6789/0]`, or the single address.
    public var description: String {
        let host = isIPv6 ? "[\(ip)]" : ip
        var parts: [String] = []
        if let msgr2Port { parts.append("v2:\(host):\(msgr2Port)") }
        if let legacyPort { parts.append("v1:\(host):\(legacyPort)") }
        return parts.count == 1 ? parts[0] : "[" + parts.joined(separator: ",") + "]"
    }

    // MARK: Helpers

    /// `false` for IPv4, `true` for IPv6, `nil` for anything else (hostnames included).
    static func classify(_ text: String) -> Bool? {
        // A NUL ends the C string inet_pton sees: "10.0.0.1\0 x" would pass as 10.0.0.1.
        if text.isEmpty || text.utf8.count > 45 || text.utf8.contains(0) { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return false }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return true }
        return nil
    }

    private static func port(_ text: Substring, _ whole: String) throws(RBDError) -> UInt16 {
        guard let port = UInt16(text), port > 0 else {
            throw RBDError(
                .invalidMonitor,
                "'\(printable(whole))': '\(printable(String(text)))' is not a port number (1–65535)")
        }
        return port
    }

    private static func syntax(_ text: String) -> RBDError {
        RBDError(
            .invalidMonitor, "'\(printable(text))' is not a monitor address (ip, ip:port, [ipv6]:port, v1:/v2: forms)")
    }

    private static func notAnAddress(_ host: String) -> RBDError {
        let name = printable(host)
        if !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) {
            return RBDError(
                .invalidMonitor,
                "monitor '\(name)' is a hostname; krbd does not resolve names and the kernel only can with CONFIG_CEPH_LIB_USE_DNS_RESOLVER: give its IP address"
            )
        }
        return RBDError(.invalidMonitor, "'\(name)' is not an IPv4 or IPv6 address")
    }

    /// Splits on `separators` outside square brackets.
    static func splitVector(_ text: Substring, separators: String = ",") -> [Substring] {
        var parts: [Substring] = []
        var depth = 0
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            if c == "[" { depth += 1 } else if c == "]" { depth -= 1 }
            if depth == 0, separators.contains(c) {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        return parts.filter { !$0.isEmpty }
    }
}

/// How the kernel picks among several monitors.
public enum MonitorStrategy: Sendable, Hashable {
    /// Write the whole list once: the kernel hunts over it within one mount_timeout, so a dead
    /// monitor costs nothing and a dead cluster costs one timeout. The default: it maps and
    /// fails fastest (kubernetes/kubernetes#57512: one-at-a-time costs a timeout per dead monitor).
    case allAtOnce
    /// The seed's "avoid mount storm": start at a random monitor and write one monitor per
    /// attempt, moving on only when the kernel timed out or could not connect; a definite answer
    /// (not found, access denied, …) ends the loop. Worst case: one mount_timeout per monitor.
    case oneAtATime
}
