// Facts about the running kernel and process, read without side effects.
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// A kernel release as `major.minor.patch` (the numeric prefix of `uname -r`).
package struct KernelVersion: Sendable, Comparable, CustomStringConvertible {
    package var major: Int
    package var minor: Int
    package var patch: Int
    /// The full release string, e.g. `6.1.0-27-amd64`.
    package var release: String

    package init(major: Int, minor: Int, patch: Int = 0, release: String? = nil) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.release = release ?? "\(major).\(minor).\(patch)"
    }

    /// Parses the numeric prefix of a release string; `nil` if it has none.
    package init?(release: String) {
        let numeric = release.prefix { $0.isNumber || $0 == "." }
        let parts = numeric.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return nil }
        self.init(major: parts[0], minor: parts[1], patch: parts.count > 2 ? parts[2] : 0, release: release)
    }

    /// The running kernel's version (uname(2)).
    package static func running() -> KernelVersion? {
        var name = utsname()
        guard system_uname(&name) == 0 else { return nil }
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return KernelVersion(release: release)
    }

    package static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    package static func == (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch)
    }

    package var description: String { release }
}

/// Facts about this process.
package enum ProcessIdentity {
    /// Whether the effective uid is 0.
    package static var isRoot: Bool { system_geteuid() == 0 }

    /// Whether `CAP_SYS_ADMIN` (bit 21) is in the effective set, from `<proc>/self/status`;
    /// `false` when that cannot be read (see ``sysAdminCapability(proc:)``).
    package static func hasSysAdmin(proc: FilePath = "/proc") -> Bool { sysAdminCapability(proc: proc) == true }

    /// Whether `CAP_SYS_ADMIN` (bit 21) is in the effective set, from the `CapEff:` line of
    /// `<proc>/self/status`; `nil` when that file cannot be read or has no such line with a hex
    /// mask (nothing is known then).
    package static func sysAdminCapability(proc: FilePath = "/proc") -> Bool? {
        guard let status = try? Files.readText(proc.appending("self/status")) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst(7).trimmingCharacters(in: " \t")
            if let mask = UInt64(hex, radix: 16) { return mask & (1 << 21) != 0 }
        }
        return nil
    }
}

extension Substring {
    /// This text without leading and trailing characters from `set`.
    package func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

extension String {
    /// This text without leading and trailing characters from `set`.
    package func trimmingCharacters(in set: String) -> String { self[...].trimmingCharacters(in: set) }
}
