// Keyring text and base64 secrets. A `key = …` value of the keyring never shows in the
// credentials or in an error (description, debug description, dump); the base64 decoder
// agrees with Foundation's on every input, and takes every canonical encoding.
import Foundation
import KRBD

enum KeyringFuzz {
    static func run(_ input: FuzzInput) {
        // The first line is the user, the rest the keyring.
        let fields = input.fields(UInt8(ascii: "\n"), count: 2)
        let user = fields[0]
        let keyring = fields.count > 1 ? fields[1] : ""
        // The values as written, and as the INI parser the keyring reader uses sees them.
        let parsed = CephConfig(parsing: keyring).sections.values.flatMap {
            [$0["key"], $0["secret"]].compactMap { $0 }
        }
        // Long enough not to occur by chance in a fixed message, and not (all but a few bytes of
        // it) in the user name, which messages quote between fixed text (`[client.<user>]`).
        let secrets = (keyValues(keyring) + parsed).filter { $0.utf8.count >= 16 && !mostlyIn(user, $0) }
        let shown: String
        do {
            let credentials = try CephCredentials(user: user, keyring: keyring)
            shown = everythingShown(credentials) + everythingShown(credentials.secret as Any)
        } catch {
            shown = everythingShown(error)
            requirePrintable(error, input: input.text)
        }
        for secret in secrets {
            require(
                !holds(shown, secret),
                "\(quoted(input.text)): the secret \(quoted(secret)) shows: \(quoted(shown))")
        }

        base64(input.text)
        if !input.bytes.isEmpty {
            let text = Data(input.bytes).base64EncodedString()
            require(
                (try? CephSecret(base64: text)) == CephSecret(bytes: input.bytes),
                "Foundation's base64 \(text) of \(input.bytes) does not decode to those bytes")
        }
    }

    /// Whether `text` holds `secret` with at most 4 of its bytes cut off its ends.
    static func mostlyIn(_ text: String, _ secret: String) -> Bool {
        let text = Array(text.utf8)
        let secret = Array(secret.utf8)
        for head in 0...4 {
            for tail in 0...(4 - head) where text.firstRange(of: secret[head..<(secret.count - tail)]) != nil {
                return true
            }
        }
        return false
    }

    /// Every value of a `key` line, as written and with quotes and blanks taken off.
    static func keyValues(_ keyring: String) -> [String] {
        func trimmed(_ text: Substring, _ set: Set<Character> = [" ", "\t"]) -> String {
            String(text.drop(while: set.contains).reversed().drop(while: set.contains).reversed())
        }
        var values: [String] = []
        for line in keyring.split(whereSeparator: \.isNewline) {
            guard let equals = line.firstIndex(of: "="), trimmed(line[..<equals]) == "key" else { continue }
            let value = line[line.index(after: equals)...]
            values.append(String(value))
            values.append(trimmed(value))
            values.append(trimmed(value, [" ", "\t", "\""]))
        }
        return values
    }

    /// `CephSecret(base64:)` against Foundation's decoder on the same (trimmed, padded) text.
    static func base64(_ text: String) {
        let secret = try? CephSecret(base64: text)
        // CephSecret's own trimming, so that both decoders see the same characters.
        // (Same Characters as its drop(while:) from both ends, found without reversed views.)
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text.lastIndex { !$0.isWhitespace }.map { text.index(after: $0) } ?? start
        var trimmed = String(text[start..<max(start, end)])
        if !trimmed.contains("=") {
            while trimmed.utf8.count % 4 != 0 { trimmed += "=" }
        }
        let reference = Data(base64Encoded: trimmed)
        if let secret {
            require(
                reference.map { CephSecret(bytes: Array($0)) } == secret,
                "\(quoted(text)) decodes, but not as Foundation decodes it")
        } else if let reference, !reference.isEmpty, reference.base64EncodedString() == trimmed {
            require(false, "the canonical base64 \(quoted(text)) is refused")
        }
    }
}
