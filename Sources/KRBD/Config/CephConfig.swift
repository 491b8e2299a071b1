// ceph.conf, the parts krbd needs: mon_host and where the keyring is, looked up like the rbd
// CLI does ([client.<id>], then [client], then [global]; `mon host` = `mon_host` = `mon-host`).
import LinuxSystem
import SystemPackage

/// A parsed ceph.conf. Printing or dumping it never shows `key`/`secret` values (a ceph.conf
/// may hold a key inline).
public struct CephConfig: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// section → (normalized key → value), sections lowercased as written (`global`, `client.admin`).
    public private(set) var sections: [String: [String: String]] = [:]

    /// Keys whose values are secrets.
    static let secretKeys: Set<String> = ["key", "secret"]

    /// The sections with secret values replaced by `<redacted>`.
    var redactedSections: [String: [String: String]] {
        sections.mapValues {
            $0.reduce(into: [:]) { $0[$1.key] = Self.secretKeys.contains($1.key) ? "<redacted>" : $1.value }
        }
    }

    /// The sections with every secret-bearing key redacted.
    public var description: String { "CephConfig(\(redactedSections))" }

    /// The redacted sections only: a debugger or `dump` never shows a key.
    public var customMirror: Mirror { Mirror(self, children: ["sections": redactedSections]) }

    /// The default path, `/etc/ceph/ceph.conf`.
    public static let defaultPath: FilePath = "/etc/ceph/ceph.conf"

    /// Parses ceph.conf text (INI; `#` and `;` comments; keys with spaces, `_` or `-` are the same).
    public init(parsing text: String) {
        var section = "global"
        for raw in text.split(whereSeparator: \.isNewline) {
            var line = raw.trimmingCharacters(in: " \t")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                if let close = line.firstIndex(of: "]") {
                    section = line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: " \t")
                }
                continue
            }
            // An inline comment starts at " #" or " ;".
            for marker in [" #", "\t#", " ;", "\t;"] {
                if let range = line.firstRange(of: marker) { line = String(line[..<range.lowerBound]) }
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = Self.normalize(line[..<equals].trimmingCharacters(in: " \t"))
            var value = line[line.index(after: equals)...].trimmingCharacters(in: " \t")
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            sections[section, default: [:]][key] = value
        }
    }

    /// Reads and parses a ceph.conf file.
    ///
    /// - Throws: `RBDError` `.invalidConfiguration` when the file cannot be read.
    public init(contentsOf path: FilePath) throws(RBDError) {
        do {
            self.init(parsing: try Files.readText(path, limit: 1 << 20))
        } catch {
            throw RBDError(.invalidConfiguration, "cannot read ceph configuration \(path)", path: path, cause: error)
        }
    }

    /// The value of `key` for `client.<user>`: `[client.<user>]`, `[client]`, then `[global]`.
    public func value(_ key: String, user: String = "admin") -> String? {
        let key = Self.normalize(key)
        for section in ["client.\(user)", "client", "global"] {
            if let value = sections[section]?[key] { return value }
        }
        return nil
    }

    /// The monitors of `mon_host` (`mon host`, `mon-host`).
    ///
    /// - Throws: `RBDError` `.invalidConfiguration` when there is no mon_host, `.invalidMonitor` when it is malformed.
    public func monitors(user: String = "admin") throws(RBDError) -> [MonitorAddress] {
        guard let text = value("mon_host", user: user), !text.isEmpty else {
            throw RBDError(.invalidConfiguration, "ceph.conf has no mon_host; give monitors with --mon")
        }
        return try MonitorAddress.parseList(text)
    }

    /// The keyring files to try for `client.<user>`: the `keyring` setting if there is one,
    /// else the rbd CLI's defaults (`/etc/ceph/$cluster.$name.keyring`, `/etc/ceph/$cluster.keyring`,
    /// `/etc/ceph/keyring`), with `$cluster`, `$name`, `$id` expanded.
    public func keyringPaths(user: String = "admin", cluster: String = "ceph") -> [FilePath] {
        let template =
            value("keyring", user: user)
            ?? "/etc/ceph/$cluster.$name.keyring,/etc/ceph/$cluster.keyring,/etc/ceph/keyring"
        return template.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }).map { item in
            var path = String(item)
            for (name, value) in [
                ("$cluster", cluster), ("$name", "client.\(user)"), ("$id", user), ("$type", "client"),
            ] {
                path = path.replacing(name, with: value)
            }
            return FilePath(path)
        }
    }

    static func normalize(_ key: String) -> String {
        var out = ""
        var lastWasSeparator = false
        for c in key.lowercased() {
            if c == " " || c == "_" || c == "-" || c == "\t" {
                if !lastWasSeparator && !out.isEmpty { out.append("_") }
                lastWasSeparator = true
            } else {
                out.append(c)
                lastWasSeparator = false
            }
        }
        return out
    }
}
