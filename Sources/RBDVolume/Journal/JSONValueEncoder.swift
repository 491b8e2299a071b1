#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes an `Encodable` value into a `JSONValue` with JSONEncoder's default strategies (`Data`
/// as base64, `URL` as its absolute string, `Decimal` as a number, `Date` as its own Codable
/// form): the text it gives, written with `prettyBytes()`, is what `JSONEncoder` with
/// `[.sortedKeys, .prettyPrinted]` writes, but for `\/`. Types it does not handle (Int128 and
/// UInt128: the standard library's default throws) make it throw; `Journal` then asks JSONEncoder.
struct JSONValueEncoder {
    /// The JSON value of `value`.
    /// - Throws: `EncodingError.invalidValue` for a non-finite floating-point number, or what
    ///   `value`'s own `encode(to:)` throws.
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let node = EncodingNode()
        try node.store(value, codingPath: [])
        return node.resolved()
    }
}

/// One value under construction. Containers are value types that must write into their parent,
/// so the tree is built of reference nodes and resolved to `JSONValue` at the end.
private final class EncodingNode {
    enum Storage {
        case unset
        case value(JSONValue)
        case object([(String, Slot)])
        case array([Slot])
    }

    /// A member or item: a finished scalar (no node allocated for it) or a node still being built.
    enum Slot {
        case value(JSONValue)
        case node(EncodingNode)

        func resolved() -> JSONValue {
            switch self {
            case .value(let value): value
            case .node(let node): node.resolved()
            }
        }
    }

    var storage = Storage.unset

    func resolved() -> JSONValue {
        switch storage {
        case .unset:
            // A value that encoded nothing: JSONEncoder writes an empty object.
            return .object([])
        case .value(let value): return value
        case .object(let members): return .object(members.map { ($0.0, $0.1.resolved()) })
        case .array(let items): return .array(items.map { $0.resolved() })
        }
    }

    /// Makes this node an object (keeping members already there) and adds `slot` under `key`.
    func add(_ slot: Slot, forKey key: String) {
        var members: [(String, Slot)] = []
        if case .object(let existing) = storage { members = existing } else { members.reserveCapacity(16) }
        storage = .unset  // keeps `members` uniquely referenced while it grows
        members.append((key, slot))
        storage = .object(members)
    }

    /// Makes this node an array (keeping items already there) and appends `slot`.
    func append(_ slot: Slot) {
        var items: [Slot] = []
        if case .array(let existing) = storage { items = existing }
        storage = .unset
        items.append(slot)
        storage = .array(items)
    }

    /// A new node under `key`.
    func child(forKey key: String) -> EncodingNode {
        let node = EncodingNode()
        add(.node(node), forKey: key)
        return node
    }

    /// A new node at the end of this array.
    func appendChild() -> EncodingNode {
        let node = EncodingNode()
        append(.node(node))
        return node
    }

    func makeObject() { if case .object = storage {} else { storage = .object([]) } }
    func makeArray() { if case .array = storage {} else { storage = .array([]) } }

    func store<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws {
        if T.self == Data.self, let data = value as? Data {
            storage = .value(.string(data.base64EncodedString()))
        } else if T.self == URL.self, let url = value as? URL {
            storage = .value(.string(url.absoluteString))
        } else if T.self == Decimal.self, let decimal = value as? Decimal {
            // JSONEncoder writes a Decimal as a number, not as its keyed Codable form.
            guard !decimal.isNaN else {
                throw EncodingError.invalidValue(decimal, .init(codingPath: codingPath, debugDescription: "NaN is not a valid JSON number"))
            }
            storage = .value(.number(decimal.description))
        } else {
            try value.encode(to: NodeEncoder(node: self, codingPath: codingPath))
        }
    }

    /// A finite number as JSONEncoder writes it: its shortest description without a trailing
    /// ".0" ("5", "-0", "1e+16", "0.1"; a Float as a Float, so 0.1 stays 0.1).
    static func number<F: BinaryFloatingPoint & LosslessStringConvertible>(
        _ value: F, codingPath: [any CodingKey], _ key: (any CodingKey)? = nil
    ) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: codingPath + (key.map { [$0] } ?? []), debugDescription: "\(value) is not a valid JSON number"))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .number(text)
    }
}

private struct NodeEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedNodeContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedNodeContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleNodeContainer(node: node, codingPath: codingPath)
    }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> EncodingNode { node.child(forKey: key.stringValue) }
    private func put(_ value: JSONValue, _ key: Key) { node.add(.value(value), forKey: key.stringValue) }
    private func put<I: BinaryInteger>(integer value: I, _ key: Key) { put(.number(String(value)), key) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        put(try EncodingNode.number(value, codingPath: codingPath, key), key)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        put(try EncodingNode.number(value, codingPath: codingPath, key), key)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(integer: value, key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try child(key).store(value, codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let node = child(key)
        node.makeObject()
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: node, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let node = child(key)
        node.makeArray()
        return UnkeyedNodeContainer(node: node, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.child(forKey: "super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        NodeEncoder(node: child(key), codingPath: codingPath + [key])
    }
}

/// A position in an array, as a coding key (for coding paths in errors).
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedNodeContainer: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var count: Int {
        if case .array(let items) = node.storage { return items.count }
        return 0
    }

    private func next() -> EncodingNode { node.appendChild() }
    private var path: [any CodingKey] { codingPath + [IndexKey(count)] }

    private func put(_ value: JSONValue) { node.append(.value(value)) }
    private func put<I: BinaryInteger>(integer value: I) { put(.number(String(value))) }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(try EncodingNode.number(value, codingPath: path)) }
    mutating func encode(_ value: Float) throws { put(try EncodingNode.number(value, codingPath: path)) }
    mutating func encode(_ value: Int) throws { put(integer: value) }
    mutating func encode(_ value: Int8) throws { put(integer: value) }
    mutating func encode(_ value: Int16) throws { put(integer: value) }
    mutating func encode(_ value: Int32) throws { put(integer: value) }
    mutating func encode(_ value: Int64) throws { put(integer: value) }
    mutating func encode(_ value: UInt) throws { put(integer: value) }
    mutating func encode(_ value: UInt8) throws { put(integer: value) }
    mutating func encode(_ value: UInt16) throws { put(integer: value) }
    mutating func encode(_ value: UInt32) throws { put(integer: value) }
    mutating func encode(_ value: UInt64) throws { put(integer: value) }
    mutating func encode<T: Encodable>(_ value: T) throws { let path = path; try next().store(value, codingPath: path) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = path
        let node = next()
        node.makeObject()
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: node, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = path
        let node = next()
        node.makeArray()
        return UnkeyedNodeContainer(node: node, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = path
        return NodeEncoder(node: next(), codingPath: path)
    }
}

private struct SingleNodeContainer: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    private func put(_ value: JSONValue) { node.storage = .value(value) }
    private func put<I: BinaryInteger>(integer value: I) { put(.number(String(value))) }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(try EncodingNode.number(value, codingPath: codingPath)) }
    mutating func encode(_ value: Float) throws { put(try EncodingNode.number(value, codingPath: codingPath)) }
    mutating func encode(_ value: Int) throws { put(integer: value) }
    mutating func encode(_ value: Int8) throws { put(integer: value) }
    mutating func encode(_ value: Int16) throws { put(integer: value) }
    mutating func encode(_ value: Int32) throws { put(integer: value) }
    mutating func encode(_ value: Int64) throws { put(integer: value) }
    mutating func encode(_ value: UInt) throws { put(integer: value) }
    mutating func encode(_ value: UInt8) throws { put(integer: value) }
    mutating func encode(_ value: UInt16) throws { put(integer: value) }
    mutating func encode(_ value: UInt32) throws { put(integer: value) }
    mutating func encode(_ value: UInt64) throws { put(integer: value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try node.store(value, codingPath: codingPath) }
}
