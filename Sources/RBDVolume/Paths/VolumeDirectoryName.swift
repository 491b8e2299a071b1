/// Reversible directory names for a volume's global mount, compatible with the in-tree plugin's
/// `<pool>-image-<image>` for the plain case.
///
/// Layout: `<pool>[-ns-<namespace>]-image-<image>[@<snapshot>]`. In pool and namespace, `%`
/// and `-` are percent-escaped (`%25`, `%2D`), so the first `-image-` (and `-ns-`) is always the
/// separator, whatever the image is called; in image and snapshot `%`, `/` and `@` are escaped.
/// A name longer than 200 bytes becomes a readable prefix plus a 64-bit hash (`~h<16 hex>`), which
/// leaves room under NAME_MAX for the journal's and lock's suffixes (`.json`, `.lock`, temp names);
/// the journal then holds the identity, since such a name does not decode.
import LinuxSystem

/// A volume's directory (and journal) name: an image spec escaped into one readable,
/// reversible path component (see the file's header).
public enum VolumeDirectoryName {
    /// The longest name `encode` returns, in bytes.
    public static let maximumLength = 200

    /// The directory name for an image (or snapshot) in a pool and optional namespace.
    public static func encode(pool: String, namespace: String?, image: String, snapshot: String?) -> String {
        var name = escape(pool, strict: true)
        if let namespace, !namespace.isEmpty { name += "-ns-" + escape(namespace, strict: true) }
        name += "-image-" + escape(image, strict: false)
        if let snapshot { name += "@" + escape(snapshot, strict: false) }
        if name.utf8.count <= maximumLength { return name }
        let hash = String(fnv1a64(name), radix: 16)
        let suffix = "~h" + String(repeating: "0", count: 16 - hash.count) + hash
        var prefix = Substring(name)
        while prefix.utf8.count > maximumLength - suffix.utf8.count { prefix = prefix.dropLast() }
        // Never cut inside an escape.
        if let percent = prefix.suffix(2).firstIndex(of: "%") { prefix = prefix[..<percent] }
        return prefix + suffix
    }

    /// The components of a name made by `encode`; `nil` for other names and hashed names (those
    /// that end in `~h` and 16 hex digits: an image or snapshot whose name ends so too is taken
    /// for one).
    public static func decode(_ name: String) -> (pool: String, namespace: String?, image: String, snapshot: String?)? {
        // Bytes, not Characters: a component that starts with a combining mark joins the `-` or
        // `@` before it into one Character, which a Character search would not find. And only the
        // suffix marks a hashed name: `~h` may be part of an image name.
        let bytes = Array(name.utf8)[...]
        guard !isHashed(bytes), let imageMark = bytes.firstRange(of: "-image-".utf8) else { return nil }
        let head = bytes[..<imageMark.lowerBound]
        let tail = bytes[imageMark.upperBound...]
        var pool = head
        var namespace: ArraySlice<UInt8>?
        if let nsMark = head.firstRange(of: "-ns-".utf8) {
            pool = head[..<nsMark.lowerBound]
            namespace = head[nsMark.upperBound...]
        }
        let tailParts = tail.split(separator: UInt8(ascii: "@"), maxSplits: 1, omittingEmptySubsequences: false)
        guard let rawPool = unescape(pool), !rawPool.isEmpty, let image = unescape(tailParts[0]), !image.isEmpty
        else { return nil }
        let ns = namespace.flatMap { unescape($0) }
        if namespace != nil && ns == nil { return nil }
        let snap = tailParts.count > 1 ? unescape(tailParts[1]) : nil
        if tailParts.count > 1 && snap == nil { return nil }
        return (rawPool, ns, image, snap)
    }

    /// Whether `name` ends as `encode`'s hashed form does: `~h` and 16 lowercase hex digits.
    private static func isHashed(_ name: ArraySlice<UInt8>) -> Bool {
        let suffix = name.suffix(18)
        return suffix.count == 18 && suffix.starts(with: "~h".utf8)
            && suffix.dropFirst(2).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func escape(_ text: String, strict: Bool) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": out += "%25"
            case "/": out += "%2F"
            case "@": out += "%40"
            case "-" where strict: out += "%2D"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func unescape(_ text: ArraySlice<UInt8>) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let h = iterator.next(), let l = iterator.next(),
                    let value = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
