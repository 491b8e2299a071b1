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
}
