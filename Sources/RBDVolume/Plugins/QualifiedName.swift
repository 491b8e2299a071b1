/// Kubernetes' qualified-name rule (apimachinery `IsQualifiedName`), used for plugin names:
/// an optional DNS-1123 subdomain prefix (≤ 253) and `/`, then a name of ≤ 63 characters
/// matching `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
public enum QualifiedName {
    /// Every rule `name` breaks, as sentences; empty when the name is valid.
    public static func violations(_ name: String) -> [String] {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        var problems: [String] = []
        let local: Substring
        switch parts.count {
        case 1:
            local = parts[0]
        case 2:
            local = parts[1]
            let prefix = parts[0]
            if prefix.isEmpty {
                problems.append("prefix part must be non-empty")
            } else {
                problems += subdomainViolations(prefix).map { "prefix part \($0)" }
            }
        default:
            return [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
                    + "and end with an alphanumeric character, with an optional DNS subdomain prefix and '/'"
            ]
        }
        if local.isEmpty {
            problems.append("name part must be non-empty")
        } else {
            if local.utf8.count > 63 { problems.append("name part must be no more than 63 characters") }
            if !isNamePart(local) {
                problems.append(
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                        + "with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')")
            }
        }
        return problems
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    private static func isNamePart(_ s: Substring) -> Bool {
        let bytes = Array(s.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return false
        }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
    }

    private static func subdomainViolations(_ s: Substring) -> [String] {
        var problems: [String] = []
        if s.utf8.count > 253 { problems.append("must be no more than 253 characters") }
        let isLower: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }
        let labelsOK = s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let b = Array(label.utf8)
            guard let first = b.first, let last = b.last, isLower(first), isLower(last) else { return false }
            return b.allSatisfy { isLower($0) || $0 == 0x2D }
        }
        if !labelsOK {
            problems.append(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                    + "and must start and end with an alphanumeric character (e.g. 'example.com')")
        }
        return problems
    }
}
