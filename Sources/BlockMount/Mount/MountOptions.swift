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
    /// The string is checked strictly first (``validate(_:)``): a malformed string is refused,
    /// never guessed at, because a value that swallows what follows it (an unbalanced quote)
    /// would silently drop options.
    ///
    /// - Throws: `MountError` `.invalidOptions` when the string is malformed or libmount cannot
    ///   parse it.
    /// - Touches: nothing outside the process (libmount string functions only).
    public init(_ options: String) throws(MountError) {
        if options.isEmpty {
            self.init(flags: 0, data: "", userspace: "")
            return
        }
        try Self.validate(options)
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

    /// Checks a mount(8)-style option string the way mount(8) would need it to be: options
    /// separated by single commas (none empty), names of letters, digits and `_ - . : +`
    /// (starting with a letter, digit or `_`: `_netdev`), values
    /// either plain (no comma, quote, whitespace or control character) or in balanced double
    /// quotes (which may hold commas, as SELinux contexts do), nothing after a closing quote.
    ///
    /// - Throws: `MountError` `.invalidOptions` naming the position and what is wrong (the
    ///   options themselves are not repeated: they may hold secrets in other uses).
    public static func validate(_ options: String) throws(MountError) {
        let bytes = Array(options.utf8)
        func refuse(_ why: String, at index: Int) -> MountError {
            MountError(.invalidOptions, "mount options refused at character \(index + 1) of \(bytes.count): \(why)")
        }
        func isNameByte(_ b: UInt8) -> Bool {
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                || "_-.:+".utf8.contains(b)
        }
        var i = 0
        while true {
            // One option: name [= value].
            let start = i
            while i < bytes.count, isNameByte(bytes[i]) { i += 1 }
            if i == start || "-.:+".utf8.contains(bytes[start]) {
                throw refuse(
                    start < bytes.count && bytes[start] != UInt8(ascii: ",")
                        ? "an option must start with a letter, digit or '_'" : "an empty option", at: start)
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "=") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
                    let open = i
                    i += 1
                    while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                        if bytes[i] < 0x20 || bytes[i] == 0x7f { throw refuse("a control character", at: i) }
                        i += 1
                    }
                    guard i < bytes.count else { throw refuse("a quote that is never closed", at: open) }
                    i += 1
                } else {
                    while i < bytes.count, bytes[i] != UInt8(ascii: ",") {
                        let b = bytes[i]
                        if b < 0x20 || b == 0x7f { throw refuse("a control character", at: i) }
                        if b == 0x20 { throw refuse("whitespace in a value (quote the value)", at: i) }
                        if b == UInt8(ascii: "\"") { throw refuse("a quote inside a value", at: i) }
                        i += 1
                    }
                }
            }
            if i == bytes.count { return }
            guard bytes[i] == UInt8(ascii: ",") else {
                throw refuse(
                    bytes[i] < 0x20 || bytes[i] == 0x7f ? "a control character" : "an unexpected character", at: i)
            }
            i += 1
        }
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
