// ceph.conf: any text parses (it never throws). Every entry must be found again through
// `value(_:user:)` (so key normalization is idempotent), no name or value spans lines, and no
// `key`/`secret` value shows in the description, debug description or dump.
import KRBD

enum CephConfigFuzz {
    static func run(_ input: FuzzInput) {
        let text = input.text
        let config = CephConfig(parsing: text)
        let sections = config.sections
        var others: [String] = []
        var secrets: [String] = []
        for (section, entries) in sections {
            requireOneLine(section, "section", from: text)
            others.append(section)
            // A user whose own section is this one, or one that has none.
            let user = section.hasPrefix("client.") ? String(section.dropFirst(7)) : "\u{1}"
            for (key, value) in entries {
                requireOneLine(key, "key", from: text)
                requireOneLine(value, "value", from: text)
                let expected = ["client.\(user)", "client", "global"].lazy.compactMap { sections[$0]?[key] }.first
                let found = config.value(key, user: user)
                require(
                    found == expected,
                    "\(quoted(text)): [\(section)] \(quoted(key)) for user \(quoted(user)) "
                        + "is \(String(describing: expected)), value(_:user:) gives \(String(describing: found))")
                others.append(key)
                if key == "key" || key == "secret" { secrets.append(value) } else { others.append(value) }
            }
        }
        let shown = everythingShown(config)
        // Long enough not to occur by chance, and not also a name or a plain value.
        for secret in secrets where secret.utf8.count >= 16 && !others.contains(where: { holds($0, secret) }) {
            require(
                !holds(shown, secret),
                "\(quoted(text)): the secret \(quoted(secret)) shows: \(quoted(shown))")
        }
        let users = ["admin"] + sections.keys.filter { $0.hasPrefix("client.") }.map { String($0.dropFirst(7)) }
        for user in users {
            for monitor in (try? config.monitors(user: user)) ?? [] { MonitorAddressFuzz.check(monitor, from: text) }
            _ = config.keyringPaths(user: user)
        }
    }

    static func requireOneLine(_ text: String, _ what: String, from input: String) {
        let breaks: Set<Unicode.Scalar> = ["\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}"]
        require(
            !text.unicodeScalars.contains(where: breaks.contains),
            "\(quoted(input)) gave a \(what) with a line break: \(quoted(text))")
    }
}
