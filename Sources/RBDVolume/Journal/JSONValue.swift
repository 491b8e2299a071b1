// The journal's own JSON: a small value tree, a writer and a parser over bytes.
//
// Why not Foundation's JSONEncoder/JSONDecoder: they cost ~145k instructions to write a record and
// about as many to read one (callgrind, krbd-bench host --part bookkeeping), which made the journal
// the largest share of what attach and detach add to the kernel's work under emulation. This
// codec writes the same text (sorted keys, two-space indent, `"key" : value`) and reads anything
// JSONEncoder wrote; `Journal` falls back to JSONDecoder for whatever this parser refuses, so no
// record an earlier build wrote becomes unreadable.

/// A parsed or to-be-written JSON value. Numbers keep their literal text, so integers of any width
/// round-trip exactly and each reader converts to the type it asks for.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order (a repeated key: the decoder takes the first, as JSONDecoder;
    /// the writer the last, as JSONEncoder when a value encodes a key twice).
    case object([(String, JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// A short name of the value's kind, for error messages.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

// MARK: Writing

extension JSONValue {
    /// The value as pretty-printed UTF-8 with sorted keys, the layout JSONEncoder's
    /// `[.sortedKeys, .prettyPrinted]` gives (slashes are not escaped; both forms are JSON).
    func prettyBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(to: &out, depth: 0)
        return out
    }

    private func write(to out: inout [UInt8], depth: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let items):
            Self.writeContainer(items.map { (nil, $0) }, open: "[", close: "]", to: &out, depth: depth)
        case .object(let members):
            Self.writeContainer(Self.sortedUnique(members).map { (Optional($0.0), $0.1) }, open: "{", close: "}", to: &out, depth: depth)
        }
    }

    /// An array (keys nil) or an object, laid out as JSONEncoder's `.prettyPrinted`: one entry
    /// per line, two spaces per level, `"key" : value`; an empty one as a blank line.
    private static func writeContainer(
        _ entries: [(String?, JSONValue)], open: Unicode.Scalar, close: Unicode.Scalar, to out: inout [UInt8], depth: Int
    ) {
        out.append(UInt8(ascii: open))
        if entries.isEmpty { out.append(10) }
        for (position, (key, value)) in entries.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(10)
            indent(&out, depth + 1)
            if let key {
                writeString(key, to: &out)
                out.append(contentsOf: " : ".utf8)
            }
            value.write(to: &out, depth: depth + 1)
        }
        out.append(10)
        indent(&out, depth)
        out.append(UInt8(ascii: close))
    }

    /// Members sorted by key, as JSONEncoder's `.sortedKeys` (String's order: by code point, the
    /// bytes' order for a record's ASCII keys); of a repeated key the last one, as JSONEncoder
    /// keeps the last value written for a key. An insertion sort (a record has a dozen or two
    /// members), stable, so duplicates stay in writing order.
    private static func sortedUnique(_ members: [(String, JSONValue)]) -> [(String, JSONValue)] {
        var order = Array(members.indices)
        for position in order.indices.dropFirst() {
            let index = order[position]
            var slot = position
            while slot > 0, members[index].0 < members[order[slot - 1]].0 {
                order[slot] = order[slot - 1]
                slot -= 1
            }
            order[slot] = index
        }
        var result: [(String, JSONValue)] = []
        result.reserveCapacity(members.count)
        for (position, index) in order.enumerated()
        where position + 1 == order.count || members[order[position + 1]].0 != members[index].0 {
            result.append(members[index])
        }
        return result
    }

    private static func indent(_ out: inout [UInt8], _ depth: Int) {
        for _ in 0..<(2 * depth) { out.append(32) }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        let plain = text.withUTF8 { bytes in
            // Most strings need no escape: copy them in one piece.
            guard !bytes.contains(where: { $0 < 32 || $0 == UInt8(ascii: "\"") || $0 == 92 }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [92, UInt8(ascii: "\"")])
            case 92: out.append(contentsOf: [92, 92])
            case 10: out.append(contentsOf: [92, UInt8(ascii: "n")])
            case 13: out.append(contentsOf: [92, UInt8(ascii: "r")])
            case 9: out.append(contentsOf: [92, UInt8(ascii: "t")])
            case 8: out.append(contentsOf: [92, UInt8(ascii: "b")])
            case 12: out.append(contentsOf: [92, UInt8(ascii: "f")])
            case 0..<32: out.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: Parsing

/// Why the journal's parser refused a text (the caller then asks JSONDecoder, whose error is the
/// one reported).
struct JSONParseError: Error, CustomStringConvertible {
    var offset: Int
    var reason: String
    var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259; surrounding whitespace allowed, nothing after it).
    /// Nesting deeper than 64 levels is refused (a journal record is three deep).
    static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> JSONValue in
            var parser = JSONParser(bytes: buffer)
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("text after the JSON value") }
            return value
        }
    }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 32, 9, 10, 13: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end") }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
            throw error("invalid literal")
        }
        index += count
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < 64 else { throw error("nesting too deep") }
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return .number(try number())
        }
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            guard bytes[index] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            index += 1
            return .object(members)
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
        while true {
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            guard bytes[index] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            index += 1
            return .array(items)
        }
    }

    /// A number's literal text, checked against the JSON grammar.
    mutating func number() throws(JSONParseError) -> String {
        let start = index
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.index
            while parser.index < parser.bytes.count, (48...57).contains(parser.bytes[parser.index]) { parser.index += 1 }
            return parser.index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integer = digits(&self)
        guard integer > 0 else { throw error("invalid value") }
        guard integer == 1 || bytes[index - integer] != 48 else { throw error("leading zero") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw error("digits expected after '.'") }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw error("digits expected in the exponent") }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    mutating func string() throws(JSONParseError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes (every record key, most values); ASCII needs no UTF-8 validation.
        var seen: UInt8 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let piece = UnsafeBufferPointer(rebasing: bytes[start..<index])
                let text = seen < 0x80 ? String(decoding: piece, as: UTF8.self) : String(validating: piece, as: UTF8.self)
                guard let text else { throw error("invalid UTF-8") }
                index += 1
                return text
            }
            seen |= byte
            if byte == 92 { break }
            guard byte >= 32 else { throw error("control character in a string") }
            index += 1
        }
        var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8") }
                return text
            case 92:
                guard index < bytes.count else { throw error("unexpected end") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), 92, UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        try expect("\\u")
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw error("invalid escape")
                }
            default:
                guard byte >= 32 else { throw error("control character in a string") }
                out.append(byte)
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case 48...57: digit = byte - 48
            case 97...102: digit = byte - 87
            case 65...70: digit = byte - 55
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}
