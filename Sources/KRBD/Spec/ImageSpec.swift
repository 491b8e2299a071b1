// Which image (or snapshot) to map. Validated on construction: the kernel splits the add request
// on whitespace and the `_pool_ns=` option on `,`/`=`, so an unchecked name is an injection.
import LinuxSystem

/// A pool, an optional RADOS namespace, an image and an optional snapshot, e.g. `rbd/ns1/vol@s1`.
///
/// Every initializer validates, so a value of this type can always be written to sysfs.
public struct ImageSpec: Sendable, Hashable, CustomStringConvertible {
    /// The pool name (`rbd` when a parsed spec names none, like the `rbd` CLI).
    public let pool: String
    /// The RADOS namespace, `nil` for the default one.
    public let namespace: String?
    /// The image name.
    public let image: String
    /// The snapshot name, `nil` for the image head.
    public let snapshot: String?

    /// The pool the `rbd` CLI uses when a spec names none.
    public static let defaultPool = "rbd"
    /// Longest pool, namespace or image name accepted.
    public static let maximumNameLength = 255
    /// Longest snapshot name the kernel takes (NAME_MAX − 5; longer is ENAMETOOLONG).
    public static let maximumSnapshotLength = 250

    /// A validated spec.
    ///
    /// - Throws: `RBDError` `.invalidSpec` when a component is empty, too long, contains
    ///   whitespace, a control character, `/` or `@` (and, in the namespace, `,` or `=`), or the
    ///   snapshot is `-` (the kernel reads that as "head").
    public init(pool: String = ImageSpec.defaultPool, namespace: String? = nil, image: String, snapshot: String? = nil)
        throws(RBDError)
    {
        try Self.check(pool, "pool", limit: Self.maximumNameLength)
        if let namespace, !namespace.isEmpty {
            try Self.check(namespace, "namespace", limit: Self.maximumNameLength, extra: ",=")
        }
        try Self.check(image, "image", limit: Self.maximumNameLength)
        if let snapshot {
            try Self.check(snapshot, "snapshot", limit: Self.maximumSnapshotLength)
            if snapshot == "-" {
                throw RBDError(
                    .invalidSpec, "snapshot name '-' means the image head to the kernel; omit the snapshot instead")
            }
        }
        self.pool = pool
        self.namespace = (namespace?.isEmpty ?? true) ? nil : namespace
        self.image = image
        self.snapshot = snapshot
    }

    /// Parses `[pool/[namespace/]]image[@snapshot]` like `rbd device map` (pool defaults to `rbd`).
    ///
    /// - Throws: `RBDError` `.invalidSpec` for more than three `/`-separated parts, more than one
    ///   `@`, or any component the validating initializer refuses.
    public init(parsing text: String) throws(RBDError) {
        // Split on scalars, not Characters: a name that starts with a combining mark joins the
        // '/' or '@' before it into one Character, and a valid spec's description would not parse.
        var rest = text.unicodeScalars[...]
        var snapshot: String?
        if let at = rest.firstIndex(of: "@") {
            snapshot = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
            if snapshot!.isEmpty { throw RBDError(.invalidSpec, "'\(printable(text))': empty snapshot name after '@'") }
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1: try self.init(image: parts[0], snapshot: snapshot)
        case 2: try self.init(pool: parts[0], image: parts[1], snapshot: snapshot)
        case 3:
            if parts[1].isEmpty {
                throw RBDError(.invalidSpec, "'\(printable(text))': empty namespace between '/'")
            }
            try self.init(pool: parts[0], namespace: parts[1], image: parts[2], snapshot: snapshot)
        default:
            throw RBDError(
                .invalidSpec, "'\(printable(text))' is not [pool/[namespace/]]image[@snapshot]")
        }
    }

    /// Builds a spec from names the kernel reported (already valid there), without checks.
    init(trusted pool: String, namespace: String?, image: String, snapshot: String?) {
        self.pool = pool
        self.namespace = (namespace?.isEmpty ?? true) ? nil : namespace
        self.image = image
        self.snapshot = snapshot
    }

    /// `pool/namespace/image@snapshot`, leaving out the parts that are not set.
    public var description: String {
        var text = pool + "/"
        if let namespace { text += namespace + "/" }
        text += image
        if let snapshot { text += "@" + snapshot }
        return text
    }

    /// Refuses what the kernel would split on or cannot name.
    private static func check(_ value: String, _ what: String, limit: Int, extra: String = "") throws(RBDError) {
        if value.isEmpty { throw RBDError(.invalidSpec, "empty \(what) name") }
        if value.utf8.count > limit {
            throw RBDError(.invalidSpec, "\(what) name is \(value.utf8.count) bytes long; the limit is \(limit)")
        }
        for scalar in value.unicodeScalars {
            let bad: String?
            if scalar.value == 0 {
                bad = "a NUL byte"
            } else if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) {
                bad = "a control character"
            } else if scalar.properties.isWhitespace {
                bad = "whitespace (the kernel splits its request on whitespace)"
            } else if scalar == "/" || scalar == "@" {
                bad = "'\(scalar)' (it separates the parts of a spec)"
            } else if extra.unicodeScalars.contains(scalar) {
                bad = "'\(scalar)' (the kernel splits options on ',' and '=')"
            } else {
                bad = nil
            }
            if let bad {
                throw RBDError(.invalidSpec, "\(what) name '\(printable(value))' contains \(bad)")
            }
        }
    }
}

extension ImageSpec: Codable {
    private enum CodingKeys: String, CodingKey { case pool, namespace, image, snapshot }

    /// Decodes and validates like ``init(pool:namespace:image:snapshot:)``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            pool: try c.decode(String.self, forKey: .pool),
            namespace: try c.decodeIfPresent(String.self, forKey: .namespace),
            image: try c.decode(String.self, forKey: .image),
            snapshot: try c.decodeIfPresent(String.self, forKey: .snapshot))
    }

    /// Encodes `pool`, `namespace`, `image` and `snapshot` (the last two only when set).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(pool, forKey: .pool)
        try c.encodeIfPresent(namespace, forKey: .namespace)
        try c.encode(image, forKey: .image)
        try c.encodeIfPresent(snapshot, forKey: .snapshot)
    }
}
