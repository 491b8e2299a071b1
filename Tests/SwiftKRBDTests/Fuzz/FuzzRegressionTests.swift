// Inputs the fuzz targets (Sources/krbd-fuzz, scripts/fuzz) found breaking a property, kept as
// unit tests so that the fix stays.
import Foundation
import Testing

@testable import KRBD
@testable import RBDVolume

@Suite struct FuzzRegressionTests {
    /// imagespec: a component that starts with a combining mark joins the `/` or `@` before it
    /// into one Character; parsing split on Characters, so the spec's own description did not parse.
    @Test(
        arguments: [
            ("rbd", nil, "\u{301}img", nil), ("rbd", "\u{301}ns", "img", nil), ("rbd", nil, "img", "\u{301}snap"),
            ("p\u{600}", nil, "img", nil),
        ] as [(String, String?, String, String?)])
    func specStartingWithACombiningMarkParsesBack(
        _ pool: String, _ namespace: String?, _ image: String, _ snapshot: String?
    ) throws {
        let spec = try ImageSpec(pool: pool, namespace: namespace, image: image, snapshot: snapshot)
        #expect(try ImageSpec(parsing: spec.description) == spec)
    }

    /// paths: `decode` refused every name with `~h` anywhere (only the hashed suffix marks a
    /// hashed name), and searched `-image-` by Characters (a combining mark after it hid it).
    @Test(
        arguments: [
            ("rbd", nil, "a~hb", nil), ("rbd", nil, "img", "~h"), ("p", "n", "\u{301}img", nil),
            ("p\u{600}", nil, "i", nil),
            ("p", nil, "i", "\u{301}s"),
        ] as [(String, String?, String, String?)])
    func directoryNamesDecodeBack(_ pool: String, _ namespace: String?, _ image: String, _ snapshot: String?) throws {
        let name = VolumeDirectoryName.encode(pool: pool, namespace: namespace, image: image, snapshot: snapshot)
        let decoded = try #require(VolumeDirectoryName.decode(name))
        #expect(decoded == (pool, namespace, image, snapshot))
    }

    /// monitor: three messages quoted the caller's text as it was, control characters included
    /// (a tab or an escape sequence reached logs and terminals).
    @Test(arguments: ["1.2.3.4:\u{1B}[31m", "[v1:1.2.3.4:6789,\tv1:1.2.3.5:6789]", "\n", ",\t;"])
    func monitorErrorsEscapeControlCharacters(_ text: String) {
        for parse in [{ _ = try MonitorAddress(parsing: text) }, { _ = try MonitorAddress.parseList(text) }] {
            do {
                try parse()
                Issue.record("\(text.debugDescription) parsed")
            } catch {
                #expect(!"\(error)".unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) })
            }
        }
    }

    /// monitor: the synthesized decoder took any ip and no port at all; a decoded address goes
    /// into the add request, where `x y` would split it.
    @Test(arguments: [
        #"{"ip":"x y","isIPv6":false,"legacyPort":1}"#, #"{"ip":"10.0.0.1","isIPv6":false}"#,
        #"{"ip":"10.0.0.1 name=admin","isIPv6":false,"legacyPort":6789}"#,
        #"{"ip":"::1","isIPv6":false,"legacyPort":0}"#,
    ])
    func decodedMonitorsAreValidated(_ json: String) {
        #expect(throws: RBDError.self) { try JSONDecoder().decode(MonitorAddress.self, from: Data(json.utf8)) }
    }

    @Test func decodedMonitorsRoundTrip() throws {
        for address in [try MonitorAddress(parsing: "10.0.0.1"), try MonitorAddress(parsing: "[::1]:6789")] {
            let json = try JSONEncoder().encode(address)
            #expect(try JSONDecoder().decode(MonitorAddress.self, from: json) == address)
        }
        // isIPv6 is derived from the ip, whatever the data says.
        let lying = #"{"ip":"::1","isIPv6":false,"msgr2Port":3300}"#
        #expect(try JSONDecoder().decode(MonitorAddress.self, from: Data(lying.utf8)).isIPv6)
    }

    /// keyring: this input trapped in the fuzz target's own check (Foundation's `contains` on
    /// Linux: "String index is out of bounds" for `"éab".contains("ab\0")`); the parser never
    /// did. Kept: the keyring still fails without showing the `key` value.
    @Test func keyringWithNULsInTheKeyFailsQuietly() {
        let secret = "admin" + String(repeating: "\u{0}", count: 40)
        let keyring = "[cadmin\n[client.admin]\n\tkey = \(secret)\n[c AQlBLk"
        do {
            _ = try CephCredentials(user: "\u{FFFD}\u{FFFD}admin", keyring: keyring)
            Issue.record("a key of NULs was taken")
        } catch {
            #expect(Array("\(error)".utf8).firstRange(of: Array(secret.utf8)) == nil)
        }
    }

    /// monitor, cephconf: inet_pton saw the ip only up to a NUL, so `10.0.0.1\0…` was taken with
    /// the NUL and whatever followed it in the ip (and so in the add request).
    @Test(arguments: ["10.0.0.1\u{0}", "10.0.0.1\u{0} name=admin", "[::1\u{0}x]:6789", "v2:10.0.0.1\u{0}5:3300"])
    func monitorWithANULIsRefused(_ text: String) {
        #expect(throws: RBDError.self) { try MonitorAddress(parsing: text) }
        #expect(throws: RBDError.self) { try MonitorAddress(ip: text, legacyPort: 6789) }
        #expect(throws: RBDError.self) { try CephConfig(parsing: "mon_host = \(text)").monitors() }
    }

    /// mapoptions: values refused C0 controls and DEL but took C1 (U+0080–U+009F, U+009B is an
    /// 8-bit CSI), which then went to the kernel and back out in `config_info`.
    @Test(arguments: ["crush_location=host:a\u{9b}31m", "fsid=5b3d4\u{97}", "crush_location=h\u{80}:n"])
    func optionValuesRefuseC1Controls(_ text: String) {
        #expect(throws: RBDError.self) { try MapOptions(parsing: text) }
    }

    /// mapoptions: crush_location split on Characters, so `|` or `:` followed by a combining mark
    /// stayed inside a type or name (and the kernel, splitting bytes, would read other entries).
    @Test func crushLocationSplitsOnScalars() throws {
        let options = try MapOptions(parsing: "crush_location=host:a|\u{31a}rack:r1|zone:\u{301}z")
        #expect(options.crushLocation.count == 3)
        #expect(options.crushLocation.map(\.type) == ["host", "\u{31a}rack", "zone"])
        #expect(options.crushLocation.map(\.name) == ["a", "r1", "\u{301}z"])
    }
}
