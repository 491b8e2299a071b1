// Decoding validates like the initializers, as ImageSpec's does: a decoded address goes into the
// add request as well, where an ip with a space would split it (an injection), and one without
// a port fails only at map time. The encoding stays the synthesized one.
import LinuxSystem

extension MonitorAddress {
    /// The stored form, read as written; `isIPv6` is derived again from the ip, not trusted.
    private struct Stored: Decodable {
        var ip: String
        var legacyPort: UInt16?
        var msgr2Port: UInt16?
    }

    /// Decodes and validates like ``init(parsing:)``.
    ///
    /// - Throws: `RBDError` `.invalidMonitor` when the ip is not an IPv4 or IPv6 address, no port
    ///   is given, or a port is 0; the decoder's errors for malformed data.
    public init(from decoder: any Decoder) throws {
        let stored = try Stored(from: decoder)
        if stored.legacyPort == 0 || stored.msgr2Port == 0 {
            throw RBDError(.invalidMonitor, "monitor \(printable(stored.ip)): port 0 is not a port (1–65535)")
        }
        try self.init(ip: stored.ip, legacyPort: stored.legacyPort, msgr2Port: stored.msgr2Port)
    }
}
