import Foundation
@testable import KRBD
import Testing

@testable import RBDVolume

/// A identity with every shape Codable can produce, to hold the journal's codec to JSONEncoder's.
private struct OddIdentity: Codable, Sendable, Equatable {
    var numbers: [Int]
    var table: [String: Double]
    var byNumber: [Int: String]
    var blob: Data
    var link: URL
    var missing: String?
    var present: Int8?
    var extremes: [Int64]
    var largest: UInt64
    var text: String
    var flag: Bool
    var float: Float
    var nested: [[String]]
}

private func fullRecord() throws -> JournalRecord<MappedDevice> {
    var record = JournalRecord<MappedDevice>(plugin: "kubernetes.io/rbd", key: "rbd-image-vol0", fsType: "ext4", readOnly: true)
    record.identity = MappedDevice(
        id: 12, pool: "rbd", poolID: 1, namespace: "ns", image: "vol0", imageID: "1002a59271e5", snapshot: "s1",
        snapshotID: 4, size: 1 << 30, major: 254, minor: 192, features: RBDFeatures(rawValue: 61), clientID: "client4106",
        clientAddress: "127.0.0.1:0/1381155427", clusterFSID: "f0ed97f7-c587-4744-ad89-d944d2d509b3",
        parent: "(no parent image)", configInfo: "127.0.0.1:6789 name=admin,secret=<redacted> rbd vol0", devicePath: "/dev/rbd12")
    record.devicePath = "/dev/rbd12"
    record.major = 254
    record.minor = 192
    record.phase = .mounted
    record.formattedHere = true
    record.updated = 1_795_827_420.3003118
    return record
}

private func odd() -> OddIdentity {
    OddIdentity(
        numbers: [1, -2, 0], table: ["a": 1.5, "b/c": -0.001, "big": 1e300], byNumber: [3: "three", 1: "one"],
        blob: Data([0, 1, 2, 250, 255]), link: URL(string: "https://example.com/a%20b?c=d")!, missing: nil, present: -128,
        extremes: [.min, .max], largest: .max, text: "quote \" backslash \\ slash / tab \t nl \n bell \u{07} é 😀",
        flag: true, float: 0.25, nested: [[], ["x"]])
}

private func foundationBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    return Array(try encoder.encode(value))
}

@Suite struct JSONValueTests {
    /// What JSONEncoder wrote (every record of earlier builds) reads through the journal's own
    /// parser and decoder, without the fallback.
    @Test func recordsJSONEncoderWroteDecodeWithoutTheFallback() throws {
        let record = try fullRecord()
        let value = try JSONValue.parse(try foundationBytes(record))
        #expect(try JSONValueDecoder.decode(JournalRecord<MappedDevice>.self, from: value) == record)
        let other = odd()
        #expect(try JSONValueDecoder.decode(OddIdentity.self, from: try JSONValue.parse(try foundationBytes(other))) == other)
    }

    /// The journal writes JSONEncoder's layout byte for byte, but for the `\/` JSONEncoder puts
    /// in front of every slash; JSONDecoder reads it back (an older build can read a newer record).
    @Test func writesJSONEncodersLayout() throws {
        let record = try fullRecord()
        let ours = try JSONValueEncoder.encode(record).prettyBytes()
        let theirs = String(decoding: try foundationBytes(record), as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
        #expect(String(decoding: ours, as: UTF8.self) == theirs)
        #expect(try JSONDecoder().decode(JournalRecord<MappedDevice>.self, from: Data(ours)) == record)
    }

    /// Arrays, dictionaries with string and integer keys, Data (base64), URL, optionals, integer
    /// extremes, escapes and non-ASCII text: ours → JSONDecoder and ours → ours give the value back,
    /// and both encoders write the same JSON value.
    @Test func everyCodableShapeRoundTrips() throws {
        let value = odd()
        let ours = try JSONValueEncoder.encode(value)
        #expect(try JSONValueDecoder.decode(OddIdentity.self, from: try JSONValue.parse(ours.prettyBytes())) == value)
        #expect(try JSONDecoder().decode(OddIdentity.self, from: Data(ours.prettyBytes())) == value)
        // Same structure and text as JSONEncoder's, dictionary order aside (its [Int: String] is an
        // array of pairs in hash order, so compare that member as a set of pairs).
        guard case .object(let mine) = ours, case .object(let theirs) = try JSONValue.parse(try foundationBytes(value)) else {
            Issue.record("not objects")
            return
        }
        #expect(mine.map(\.0).sorted() == theirs.map(\.0).sorted())
        for (key, member) in mine where key != "byNumber" && key != "table" {
            #expect(theirs.first { $0.0 == key }?.1 == member, "member \(key)")
        }
    }

    /// Keys sorted; of a key written twice the last value stays, once; empty containers as
    /// JSONEncoder writes them (a blank line, then the closing bracket at the container's indent).
    @Test func sortsKeysAndKeepsTheLastOfADuplicate() {
        let value = JSONValue.object([("b", .number("1")), ("a", .string("x\"y")), ("b", .number("3")), ("c", .array([])), ("d", .object([]))])
        #expect(String(decoding: value.prettyBytes(), as: UTF8.self) == "{\n  \"a\" : \"x\\\"y\",\n  \"b\" : 3,\n  \"c\" : [\n\n  ],\n  \"d\" : {\n\n  }\n}")
    }

    /// Numbers are written as JSONEncoder writes them (a Float as a Float, "-0", no ".0").
    @Test func numbersAreWrittenAsJSONEncoderWritesThem() throws {
        struct Numbers: Codable, Equatable {
            var float: Float = 0.1
            var negativeZero: Double = -0.0
            var quadrillion: Double = 1e15
            var large: Double = 1e16
            var small: Double = 1e-7
            var third: Double = 1.0 / 3
            var floats: [Float] = [1.5, 3.4e38]
        }
        let ours = String(decoding: try JSONValueEncoder.encode(Numbers()).prettyBytes(), as: UTF8.self)
        #expect(ours == String(decoding: try foundationBytes(Numbers()), as: UTF8.self))
    }

    /// Decimal as a number, Int128 through JSONEncoder (the journal's encoder throws for it and
    /// `Journal` falls back): a third-party identity with either saves and loads.
    @Test func decimalAndInt128IdentitiesSaveAndLoad() throws {
        struct Wide: Codable, Sendable, Equatable {
            var amount: Decimal
            var big: Int128
        }
        let value = Wide(amount: Decimal(string: "12.345")!, big: Int128.max)
        #expect(throws: EncodingError.self) { try JSONValueEncoder.encode(value) }
        let dir = try TemporaryDirectory()
        let journal = Journal<Wide>(directory: dir("j"))
        var record = JournalRecord<Wide>(plugin: "p", key: "k", fsType: "ext4", readOnly: false)
        record.identity = value
        try journal.save(record)
        #expect(try journal.load("k")?.identity == value)
        struct Money: Codable, Equatable { var amount: Decimal }
        let money = Money(amount: Decimal(string: "-0.5")!)
        let encoded = try JSONValueEncoder.encode(money)
        #expect(encoded == .object([("amount", .number("-0.5"))]))
        #expect(try JSONDecoder().decode(Money.self, from: Data(encoded.prettyBytes())) == money)
        #expect(try JSONValueDecoder.decode(Money.self, from: encoded) == money)
    }

    /// A repeated key: the first value counts, as in JSONDecoder (no silent disagreement).
    @Test func aRepeatedKeyDecodesAsJSONDecoderDecodesIt() throws {
        let text = #"{"schema": 1, "plugin": "p", "key": "k", "minor": 5, "fsType": "ext4", "readOnly": false, "phase": "mounted", "formattedHere": false, "updated": 0, "minor": 7}"#
        let ours = try JSONValueDecoder.decode(JournalRecord<MappedDevice>.self, from: try JSONValue.parse(Array(text.utf8)))
        let theirs = try JSONDecoder().decode(JournalRecord<MappedDevice>.self, from: Data(text.utf8))
        #expect(ours == theirs && ours.minor == 5)
    }

    /// Altered records (keys reordered, unknown keys, compact and odd whitespace, escapes, an
    /// exponent, an empty identity member list) decode to what JSONDecoder gives, or both refuse.
    @Test(arguments: [
        #"{"updated":1.7958e9,"phase":"mapped","schema":1,"plugin":"kubernetes.io\/rbd","key":"k","fsType":"xfs","readOnly":true,"formattedHere":true,"extra":[1,{"a":null}]}"#,
        "{\n\t\"schema\" :1 ,\"plugin\":\"p\\u00e9\",\"key\":\"k\",\"fsType\":\"ext4\",\"readOnly\":false,\"phase\":\"attaching\",\"formattedHere\":false,\"updated\":-0.0,\"identity\":null}\r\n",
        #"{"schema":1,"plugin":"p","key":"k","fsType":"ext4","readOnly":false,"phase":"mounted","formattedHere":false,"updated":0,"identity":{}}"#,
        #"{"schema":1,"plugin":"p","key":"k","fsType":"ext4","readOnly":false,"phase":"gone","formattedHere":false,"updated":0}"#,
        #"{"schema":1,"plugin":"p","key":"k","fsType":"ext4","readOnly":0,"phase":"mounted","formattedHere":false,"updated":0}"#,
        #"{"schema":1,"plugin":"p","key":"k","fsType":"ext4","readOnly":false,"phase":"mounted","formattedHere":false,"updated":1e400}"#,
        #"{"schema":1,"plugin":"p","key":"k","fsType":"ext4","readOnly":false,"phase":"mounted","formattedHere":false,"updated":0,"minor":-1}"#,
        #"{"schema":1,"plugin":"p","key":"k","fsType":"ext4","readOnly":false,"phase":"mounted","formattedHere":false,"updated":0,"minor":4294967296}"#,
    ])
    func alteredRecordsDecodeAsJSONDecoderDecodesThem(_ text: String) throws {
        let theirs = try? JSONDecoder().decode(JournalRecord<MappedDevice>.self, from: Data(text.utf8))
        let ours = try? JSONValueDecoder.decode(JournalRecord<MappedDevice>.self, from: try JSONValue.parse(Array(text.utf8)))
        if let ours { #expect(ours == theirs, "ours decoded what JSONDecoder \(theirs == nil ? "refuses" : "reads otherwise")") }
        #expect((try? Journal<MappedDevice>.decode(Array(text.utf8))) == theirs)
    }

    @Test func nonFiniteNumbersAreRefused() {
        #expect(throws: EncodingError.self) { try JSONValueEncoder.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder.encode(["x": Double.infinity]) }
    }

    @Test func parsesEveryJSONForm() throws {
        let text = #" {"a" : [1, -2.5e+3, 0, 0.5E-2, true, false, null, "\u00e9\ud83d\ude00\/\"\\\b\f\n\r\t"], "b": {}, "c": []} "#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(
            value
                == .object([
                    ("a", .array([
                        .number("1"), .number("-2.5e+3"), .number("0"), .number("0.5E-2"), .bool(true), .bool(false), .null,
                        .string("é😀/\"\\\u{08}\u{0C}\n\r\t"),
                    ])),
                    ("b", .object([])), ("c", .array([])),
                ]))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "-", "1.", "1e", ".5", "+1", "\"\\x\"", "\"a", "{} x", "tru", "nul",
        "\"\\ud800\"", "\"\\ud800\\u0041\"", "\"\\u12\"", "\"a\u{01}b\"", "{1:2}", "{\"a\" 1}", "[1 2]",
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONParseError.self, "\(text)") { try JSONValue.parse(Array(text.utf8)) }
    }

    /// A raw control byte where a \\u escape wants a hex digit is refused (not read as a digit).
    @Test func refusesAControlByteInAUnicodeEscape() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(#""\u00"#.utf8) + [0x12, 0x34, 34]) }
        #expect(throws: Never.self) { try JSONValue.parse(Array(#""\u00E9\u00e9""#.utf8)) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([34, 0xFF, 34]) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse([34, 92, 110, 0xC3, 34]) }
    }

    /// The journal's decoder refuses what JSONDecoder takes (an integer written as 1.0); the
    /// journal then asks JSONDecoder, so such a record still loads.
    @Test func theJournalFallsBackToJSONDecoder() throws {
        let text = #"{"schema": 1.0, "plugin": "p", "key": "k", "fsType": "ext4", "readOnly": false, "phase": "mounted", "formattedHere": false, "updated": 0}"#
        #expect(throws: DecodingError.self) {
            try JSONValueDecoder.decode(JournalRecord<MappedDevice>.self, from: try JSONValue.parse(Array(text.utf8)))
        }
        let record = try Journal<MappedDevice>.decode(Array(text.utf8))
        #expect(record.schema == 1 && record.phase == .mounted && record.identity == nil)
    }

    /// Type and key errors name the coding path.
    @Test func decodingErrorsNameThePath() throws {
        let text = #"{"schema": 1, "plugin": "p", "key": "k", "fsType": "ext4", "readOnly": "no", "phase": "mounted", "formattedHere": false, "updated": 0}"#
        let error = #expect(throws: DecodingError.self) {
            try JSONValueDecoder.decode(JournalRecord<MappedDevice>.self, from: try JSONValue.parse(Array(text.utf8)))
        }
        guard case .typeMismatch(_, let context) = error else {
            Issue.record("expected a type mismatch, got \(String(describing: error))")
            return
        }
        #expect(context.codingPath.map(\.stringValue) == ["readOnly"])
        let missing = #"{"schema": 1}"#
        #expect(throws: DecodingError.self) {
            try JSONValueDecoder.decode(JournalRecord<MappedDevice>.self, from: try JSONValue.parse(Array(missing.utf8)))
        }
    }
}
