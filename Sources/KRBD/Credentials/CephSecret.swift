// A cephx secret that never shows itself: not in description, debugDescription, dump(), Mirror,
// logs or errors, and not Codable (nothing can persist it by accident).

import LinuxSystem

/// A cephx key (the decoded bytes of the base64 text in a keyring).
///
/// Printing, reflecting or dumping it shows `<redacted>`. It is deliberately not `Codable`.
public struct CephSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The raw key bytes, as `add_key("ceph", …)` wants them.
    let bytes: [UInt8]
    /// 32 hex digits that name this secret without revealing it: the first 16 bytes of
    /// SHA-256 over a fixed label and the raw key. The kernel keyring entry of a map is named
    /// `client.<user>.<fingerprint>`, so that `config_info` (`key=client.<user>.<fingerprint>`)
    /// proves which key a mapping was made with, and reuse never hands a device to a caller
    /// whose key differs (the kernel never checked that key). A cephx key has 128 random bits;
    /// the digest is one-way, so the name tells nothing of the key. Computed once: each map
    /// names its request and its keyring entry with it.
    let fingerprint: String

    /// A secret from its base64 text (`AQ…==`), surrounding whitespace ignored.
    ///
    /// - Throws: `RBDError` `.invalidCredentials` when the text is not valid base64 or is empty.
    public init(base64 text: String) throws(RBDError) {
        let trimmed = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        guard !trimmed.isEmpty, let bytes = Base64.decode(trimmed), !bytes.isEmpty else {
            throw RBDError(.invalidCredentials, "the secret is not valid base64 (expected a cephx key like AQ…==)")
        }
        self.init(bytes: bytes)
    }

    /// A secret from its raw bytes.
    public init(bytes: [UInt8]) {
        self.bytes = bytes
        fingerprint = SHA256.hexPrefix(Array("krbd key fingerprint v1\0".utf8) + bytes)
    }

    /// The base64 text, for the `secret=` opt-in only.
    var base64: String { Base64.encode(bytes) }

    /// Always `<redacted>`: a key never reaches a log or a message.
    public var description: String { "<redacted>" }
    /// Always `CephSecret(<redacted>)`.
    public var debugDescription: String { "CephSecret(<redacted>)" }
    /// No children: a debugger or `dump` never shows the key.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
