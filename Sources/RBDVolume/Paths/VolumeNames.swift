// The rules for names that callers give and that become path components under the node root:
// the orchestrator's own rules (Kubernetes), so that nothing with whitespace, control
// characters, `/` or `..` reaches a path, mountinfo (where it would be escaped) or the CLI's
// output (where it would not).
import LinuxSystem

/// Validation of caller-given names that become path components.
public enum VolumeNames {
    /// A volume name is a DNS-1123 label, as Kubernetes requires of a pod's volume names:
    /// 1–63 lowercase letters, digits and `-`, starting and ending with a letter or digit.
    ///
    /// - Throws: `VolumeError` `.invalidArgument` with a one-line reason.
    public static func validateVolumeName(_ name: String) throws(VolumeError) {
        let bytes = Array(name.utf8)
        func alnum(_ b: UInt8) -> Bool { (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) }
        guard (1...63).contains(bytes.count), alnum(bytes[0]), alnum(bytes[bytes.count - 1]),
            bytes.allSatisfy({ alnum($0) || $0 == UInt8(ascii: "-") })
        else {
            throw VolumeError(
                .invalidArgument,
                "volume name \"\(printable(name))\" is not a DNS-1123 label (1-63 lowercase letters, digits and '-', "
                    + "starting and ending with a letter or digit)")
        }
    }

    /// A pod UID is a UUID in Kubernetes (a static pod's is a hex hash): 1–64 letters, digits,
    /// `-` and `_`, starting with a letter or digit.
    ///
    /// - Throws: `VolumeError` `.invalidArgument` with a one-line reason.
    public static func validatePodUID(_ uid: String) throws(VolumeError) {
        let bytes = Array(uid.utf8)
        func alnum(_ b: UInt8) -> Bool {
            (0x61...0x7A).contains(b) || (0x41...0x5A).contains(b) || (0x30...0x39).contains(b)
        }
        guard (1...64).contains(bytes.count), alnum(bytes[0]),
            bytes.allSatisfy({ alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else {
            throw VolumeError(
                .invalidArgument,
                "pod UID \"\(printable(uid))\" is not a UID (1-64 letters, digits, '-' and '_', starting with a "
                    + "letter or digit; Kubernetes uses UUIDs)")
        }
    }

    /// The journal key (one path component) for a caller's own volume id, such as CSI's
    /// `volume_id`, which may hold any byte: `v~` and the id with every byte outside
    /// `A-Z a-z 0-9 . _ -` percent-escaped; an id whose key would pass 200 bytes becomes
    /// `v~h` and 32 hex digits of its SHA-256. Never the form of a provider's key
    /// (``VolumeDirectoryName``), so both kinds can share a journal.
    public static func key(forVolumeID id: String) -> String {
        var key = "v~"
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                key.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                key += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        guard key.utf8.count > VolumeDirectoryName.maximumLength else { return key }
        return "v~h" + SHA256.hexPrefix(Array(id.utf8))
    }

    /// A caller-given journal key must be one path component of 1–200 bytes without `/`, NUL
    /// or a leading `.` (``key(forVolumeID:)`` always makes one).
    ///
    /// - Throws: `VolumeError` `.invalidArgument`.
    public static func validateKey(_ key: String) throws(VolumeError) {
        let bytes = Array(key.utf8)
        guard (1...VolumeDirectoryName.maximumLength).contains(bytes.count), bytes[0] != UInt8(ascii: "."),
            !bytes.contains(UInt8(ascii: "/")), !bytes.contains(0)
        else {
            throw VolumeError(
                .invalidArgument,
                "volume key \"\(printable(key))\" is not one path component of 1-200 bytes (no '/', no leading '.'); "
                    + "make keys with VolumeNames.key(forVolumeID:)")
        }
    }
}
