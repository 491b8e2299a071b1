import CSupport
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// A mount option string split the way mount(8) splits it, by libmount: VFS options become
/// `MS_*` flags, filesystem options stay as the data string, userspace-only options
/// (`_netdev`, `nofail`, `x-*`, …) are set apart and never reach the kernel.
public struct MountOptions: Sendable, Hashable {
    /// The `MS_*` flags for mount(2) (`ro` → `MS_RDONLY`, `noatime` → `MS_NOATIME`, …).
    public var flags: UInt
    /// The filesystem-specific options, comma separated (`discard,data=ordered`), for the
    /// `data` argument of mount(2). Never logged: it may carry secrets in other uses.
    public var data: String
    /// Userspace-only options (`_netdev`, `nofail`, …); mount(2) does not see them.
    public var userspace: String

    /// Splits `options` with `mnt_split_optstr`, then maps the VFS part to flags with
    /// `mnt_optstr_get_flags` over libmount's built-in Linux map (`MNT_LINUX_MAP`).
    ///
    /// - Parameter options: a mount(8)-style option string (`ro,noatime,nodev,discard`).
    /// - Throws: `MountError` `.invalidOptions` when libmount cannot parse the string.
    /// - Touches: nothing outside the process (libmount string functions only).
    public init(_ options: String) throws(MountError) {
        if options.isEmpty {
            self.init(flags: 0, data: "", userspace: "")
            return
        }
        var user: UnsafeMutablePointer<CChar>?
        var vfs: UnsafeMutablePointer<CChar>?
        var fs: UnsafeMutablePointer<CChar>?
        defer {
            free(user)
            free(vfs)
            free(fs)
        }
        if mnt_split_optstr(options, &user, &vfs, &fs, 0, 0) != 0 {
            throw MountError(.invalidOptions, "libmount cannot parse the mount options (\(options.count) characters)")
        }
        var flags: UInt = 0
        if let vfs, mnt_optstr_get_flags(vfs, &flags, mnt_get_builtin_optmap(Int32(MNT_LINUX_MAP))) != 0 {
            throw MountError(.invalidOptions, "libmount cannot map the VFS mount options to flags")
        }
        self.init(
            flags: flags, data: fs.map { String(cString: $0) } ?? "", userspace: user.map { String(cString: $0) } ?? "")
    }

    /// Options built from their parts.
    public init(flags: UInt, data: String = "", userspace: String = "") {
        self.flags = flags
        self.data = data
        self.userspace = userspace
    }

    /// Whether `MS_RDONLY` is set.
    public var isReadOnly: Bool { flags & UInt(MS_RDONLY) != 0 }

    /// Whether the data string holds `option` (exactly, or as `option=…`).
    public func hasData(_ option: String) -> Bool {
        data.split(separator: ",").contains { $0 == option || $0.hasPrefix(option + "=") }
    }

    /// These options with `option` appended to the data string unless it is there already.
    public func addingData(_ option: String) -> MountOptions {
        if hasData(option) { return self }
        var copy = self
        copy.data = data.isEmpty ? option : data + "," + option
        return copy
    }
}
