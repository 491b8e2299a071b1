// Who maps: a cephx user and its secret, from a keyring, a key file or given directly, and how
// the secret travels to the kernel.
import LinuxSystem
import SystemPackage

/// A cephx user (without `client.`) and its secret.
public struct CephCredentials: Sendable, Hashable, CustomStringConvertible {
    /// How the secret reaches the kernel.
    public enum Transport: Sendable, Hashable {
        /// `add_key("ceph", "client.<user>", …)` into the process keyring, `key=client.<user>` in
        /// the request, the key unlinked after the write (the kernel keeps its own copy). The
        /// default: the secret never appears in `config_info`.
        case kernelKeyring
        /// `secret=<base64>` in the request. Opt-in only: the kernel keeps the request, secret
        /// included, in `/sys/bus/rbd/devices/<id>/config_info` for the mapping's lifetime.
        /// Use where `add_key` is blocked (a container's seccomp profile).
        case secretInRequest
    }

    /// The cephx user, e.g. `admin`.
    public let user: String
    /// The secret; `nil` for clusters with `auth_client_required = none` (the request then
    /// carries only `name=<user>`; a key already in a keyring is not looked up).
    public let secret: CephSecret?
    /// How the secret reaches the kernel.
    public var transport: Transport

    /// Credentials for `user` (a leading `client.` is dropped).
    ///
    /// - Throws: `RBDError` `.invalidCredentials` when the user name is empty or contains
    ///   whitespace, control characters, `,` or `=`.
    public init(user: String = "admin", secret: CephSecret?, transport: Transport = .kernelKeyring) throws(RBDError) {
        let name = user.hasPrefix("client.") ? String(user.dropFirst(7)) : user
        guard !name.isEmpty, name.utf8.count <= 255,
            name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f && !",=".unicodeScalars.contains($0) })
        else {
            throw RBDError(
                .invalidCredentials, "user name '\(printable(user))' is empty or contains whitespace, ',' or '='")
        }
        self.user = name
        self.secret = secret
        self.transport = transport
    }

    /// The secret of `client.<user>` from keyring text (`[client.admin]` then `key = AQ…==`).
    ///
    /// - Throws: `RBDError` `.invalidCredentials` when the section or its key is missing or malformed.
    public init(user: String = "admin", keyring text: String, transport: Transport = .kernelKeyring) throws(RBDError) {
        let name = user.hasPrefix("client.") ? String(user.dropFirst(7)) : user
        guard let key = Self.keyringKey(text, entity: "client." + name) else {
            throw RBDError(.invalidCredentials, "the keyring has no 'key' for [client.\(printable(name))]")
        }
        try self.init(user: name, secret: try CephSecret(base64: key), transport: transport)
    }

    /// Reads `client.<user>`'s secret from a keyring file.
    ///
    /// - Throws: `RBDError` `.invalidCredentials` when the file cannot be read or has no key for the user.
    public static func keyringFile(_ path: FilePath, user: String = "admin", transport: Transport = .kernelKeyring)
        throws(RBDError) -> CephCredentials
    {
        let text = try readSmallFile(path, what: "keyring")
        do {
            return try CephCredentials(user: user, keyring: text, transport: transport)
        } catch {
            throw RBDError(error.code, "\(path): \(error.message)", path: path)
        }
    }

    /// Reads a key file (the base64 secret alone, like `rbd --keyfile`).
    ///
    /// - Throws: `RBDError` `.invalidCredentials` when the file cannot be read or is not base64.
    public static func keyFile(_ path: FilePath, user: String = "admin", transport: Transport = .kernelKeyring)
        throws(RBDError) -> CephCredentials
    {
        let text = try readSmallFile(path, what: "key file")
        do {
            return try CephCredentials(user: user, secret: try CephSecret(base64: text), transport: transport)
        } catch {
            throw RBDError(error.code, "\(path): \(error.message)", path: path)
        }
    }

    /// The user and transport; the secret only as `<redacted>` or `none`.
    public var description: String {
        "CephCredentials(user: \(user), secret: \(secret == nil ? "none" : "<redacted>"), transport: \(transport))"
    }

    /// The `key` value of section `[entity]` in keyring text. Keyrings are ceph.conf-style INI
    /// (Ceph reads both with one grammar), so they are parsed by ``CephConfig``: `key = v`,
    /// `key=v`, tabs, quotes, whole-line and inline (` #`, ` ;`) comments.
    static func keyringKey(_ text: String, entity: String) -> String? {
        CephConfig(parsing: text).sections[entity]?["key"]
    }

    static func readSmallFile(_ path: FilePath, what: String) throws(RBDError) -> String {
        do {
            return try Files.readText(path, limit: 64 * 1024)
        } catch {
            throw RBDError(.invalidCredentials, "cannot read \(what) \(path)", path: path, cause: error)
        }
    }
}
