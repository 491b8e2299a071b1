import Testing

@testable import KRBD

@Suite struct MonitorAddressTests {
    @Test func parsesEveryMonHostSyntax() throws {
        let plain = try MonitorAddress(parsing: "10.0.0.1")
        #expect(plain.legacyPort == 6789 && plain.msgr2Port == 3300)
        #expect(try MonitorAddress(parsing: "10.0.0.1:6789").msgr2Port == nil)
        #expect(try MonitorAddress(parsing: "10.0.0.1:3300").legacyPort == nil)
        #expect(try MonitorAddress(parsing: "v1:10.0.0.1:6790/0").legacyPort == 6790)
        #expect(try MonitorAddress(parsing: "v2:10.0.0.1:3300/0").msgr2Port == 3300)
        let vector = try MonitorAddress(parsing: "[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0]")
        #expect(vector.ip == "10.0.0.1" && vector.legacyPort == 6789 && vector.msgr2Port == 3300)
        let v6 = try MonitorAddress(parsing: "[::1]:6789")
        #expect(v6.isIPv6 && v6.ip == "::1" && v6.legacyPort == 6789)
        #expect(try v6.rendered(for: nil) == "[::1]:6789")
        #expect(
            try MonitorAddress(parsing: "[v2:[fd00::1]:3300/0,v1:[fd00::1]:6789/0]").rendered(for: .crc)
                == "[fd00::1]:3300")
    }

    @Test func parsesLists() throws {
        let list = try MonitorAddress.parseList(
            "[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0],[v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0] 10.0.0.3;10.0.0.4:6789")
        #expect(list.map(\.ip) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
        #expect(try MonitorAddress.parseList("10.0.0.1, 10.0.0.2").count == 2)
        // Duplicates are merged: one v1 and one v2 address of one monitor.
        let merged = try MonitorAddress.parseList("10.0.0.1:6789,10.0.0.1:3300")
        #expect(merged.count == 1 && merged[0].legacyPort == 6789 && merged[0].msgr2Port == 3300)
    }

    @Test func rendersThePortTheMsModeNeeds() throws {
        let both = try MonitorAddress(parsing: "10.0.0.1")
        #expect(try both.rendered(for: nil) == "10.0.0.1:6789")
        #expect(try both.rendered(for: .legacy) == "10.0.0.1:6789")
        for mode in [MessengerMode.crc, .secure, .preferCRC, .preferSecure] {
            #expect(try both.rendered(for: mode) == "10.0.0.1:3300")
        }
        let v2only = try MonitorAddress(parsing: "10.0.0.1:3300")
        #expect(throws: RBDError.self) { try v2only.rendered(for: nil) }
        let v1only = try MonitorAddress(parsing: "10.0.0.1:6789")
        #expect(throws: RBDError.self) { try v1only.rendered(for: .crc) }
    }

    @Test(arguments: [
        "localhost", "mon1.example.com", "mon1:6789", "10.0.0.1:0", "10.0.0.1:70000", "10.0.0.1:abc", "1.2.3",
        "[::1", "v3:10.0.0.1", "10.0.0.1/x", "[v2:10.0.0.1:3300,v1:10.0.0.2:6789]", "",
    ])
    func refusesBadAddresses(_ text: String) {
        #expect(throws: RBDError.self) { try MonitorAddress.parseList(text) }
    }

    @Test func hostnamesSayWhy() {
        do {
            _ = try MonitorAddress(parsing: "mon1.example.com")
            Issue.record("a hostname was accepted")
        } catch {
            #expect(error.code == .invalidMonitor)
            #expect(error.message.contains("hostname"))
        }
    }

    @Test func atMost31Monitors() throws {
        let many = (1...32).map { "10.0.0.\($0)" }.joined(separator: ",")
        #expect(throws: RBDError.self) { try MonitorAddress.parseList(many) }
        #expect(try MonitorAddress.parseList((1...31).map { "10.0.0.\($0)" }.joined(separator: ",")).count == 31)
    }
}
