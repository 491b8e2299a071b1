import CSupport
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// The one model of a device number (`major:minor`), shared with KRBD and RBDVolume (which name
/// it `DeviceNumber` too).
public typealias DeviceNumber = LinuxSystem.DeviceNumber

extension DeviceNumber {
    /// The device number of the block device (or the filesystem of the file) at `path`.
    ///
    /// - Returns: `st_rdev` for a block device, `st_dev` for anything else.
    /// - Throws: `MountError` `.notBlockDevice` when stat(2) of `path` fails.
    /// - Touches: fstatat(2) of `path` (following symlinks, as `/dev/disk/by-*` links are).
    public init(of path: FilePath) throws(MountError) {
        var st = stat()
        let status = valueOrErrno(retryOnInterrupt: false) { system_fstatat(AT_FDCWD, path.string, &st, 0) }
        if case .failure(let errno) = status {
            throw MountError(
                .notBlockDevice, "cannot stat \(path)", path: path,
                cause: SyscallError("stat", path: path, errno: errno))
        }
        self.init(rdev: st.st_mode & S_IFMT == S_IFBLK ? st.st_rdev : st.st_dev)
    }
}

/// One line of mountinfo (escapes such as `\040` undone), as libmount would parse it.
public struct MountEntry: Sendable, Hashable {
    /// The mount id (field 1).
    public var id: Int
    /// The parent mount id (field 2).
    public var parentID: Int
    /// The device of the mounted filesystem (field 3).
    public var device: DeviceNumber
    /// The directory of the filesystem that is mounted here (field 4; `/` for a whole fs,
    /// a subdirectory for a bind mount of it).
    public var root: FilePath
    /// Where it is mounted (field 5).
    public var target: FilePath
    /// The filesystem type (`ext4`, `xfs`, `tmpfs`, …).
    public var fsType: String
    /// The mount source (`/dev/loop3`, `tmpfs`, …), if any.
    public var source: String?
    /// Per-mount (VFS) options: `rw`/`ro`, `nodev`, `nosuid`, `noexec`, `relatime`, …
    public var vfsOptions: String
    /// Per-superblock options (`rw,nouuid,attr2,…`). May carry secrets in other uses: not for logs.
    public var fsOptions: String
    /// Propagation fields (`shared:1`, `master:2`), if any.
    public var optionalFields: String

    /// Whether the mount itself is read-only (`ro` in the VFS options).
    public var isReadOnly: Bool { hasVFSOption("ro") }

    /// Whether `option` is one of the VFS options.
    public func hasVFSOption(_ option: String) -> Bool {
        vfsOptions.split(separator: ",").contains { $0 == option }
    }
}

/// The mount table of a process (`<proc>/self/mountinfo`), read by the one byte-level walk
/// that ``referenceTargets(to:proc:)`` and ``mountedDevice(at:proc:)`` use too; libmount's
/// parser is the oracle its parity tests hold it to.
public struct MountTable: Sendable {
    /// Every mount, in mountinfo order (a later entry at the same target is on top).
    public var entries: [MountEntry]

    /// Builds a table from entries (fixtures, filters).
    public init(entries: [MountEntry]) { self.entries = entries }

    /// Parses mountinfo text (for fixtures; production reads the file with `current`). A
    /// malformed line (which the kernel never writes) is skipped.
    ///
    /// - Throws: never today; kept throwing so that a stricter reader needs no API change.
    /// - Touches: nothing outside the process.
    public init(parsing text: String) throws(MountError) {
        self.init(walking: Array(text.utf8))
    }

    /// The entries of mountinfo bytes, by ``MountInfo/forEachLine(_:_:)``.
    init(walking bytes: [UInt8]) {
        var entries: [MountEntry] = []
        MountInfo.forEachLine(bytes) { line in
            guard let id = decimalValue(line.id), let parent = decimalValue(line.parentID), let tail = line.tail
            else { return }
            entries.append(
                MountEntry(
                    id: Int(id), parentID: Int(parent), device: line.device,
                    root: FilePath(MountInfo.unescape(line.root)), target: FilePath(MountInfo.unescape(line.target)),
                    fsType: MountInfo.unescape(tail.fsType), source: MountInfo.unescape(tail.source),
                    vfsOptions: MountInfo.unescape(tail.mountOptions), fsOptions: MountInfo.unescape(tail.superOptions),
                    optionalFields: MountInfo.unescape(tail.optionalFields)))
        }
        self.entries = entries
    }

    /// libmount's parse of mountinfo text: the oracle of the walk (parity tests, the fuzz target).
    ///
    /// - Throws: `MountError` `.mountTableUnreadable` when libmount fails on the text.
    package static func libmount(parsing text: String) throws(MountError) -> MountTable {
        MountTable(entries: try LibmountTable(parsing: Array(text.utf8), path: nil).entries())
    }

    /// Reads and parses `<proc>/self/mountinfo`.
    ///
    /// - Parameter proc: the procfs root (tests pass a fixture tree).
    /// - Throws: `MountError` `.mountTableUnreadable` when the file cannot be read or parsed.
    /// - Touches: open(2)/read(2) of `<proc>/self/mountinfo`.
    public static func current(proc: FilePath = "/proc") throws(MountError) -> MountTable {
        MountTable(walking: try mountInfoBytes(proc: proc))
    }

    /// The mounts of the filesystem on `device` (every target it is mounted or bound at).
    public func mounts(ofDevice device: DeviceNumber) -> [MountEntry] {
        entries.filter { $0.device == device }
    }

    /// The mounts exactly at `path` (stacked mounts: the last one is on top).
    public func mounts(at path: FilePath) -> [MountEntry] {
        let path = path.lexicallyNormalized()
        return entries.filter { $0.target == path }
    }

    /// The mounts at `path` or anywhere below it.
    public func mounts(under path: FilePath) -> [MountEntry] {
        let path = path.lexicallyNormalized()
        return entries.filter { $0.target.starts(with: path) }
    }

    /// The targets of `references(to:)` in the current mount table, found by a byte-level walk
    /// over `<proc>/self/mountinfo` (no libmount, nothing allocated per line; only the answers
    /// are decoded): detach asks this on every call, and the table holds dozens of mounts where
    /// the volume has none or a few binds.
    ///
    /// - Throws: `MountError` `.mountTableUnreadable`.
    /// - Touches: open(2)/read(2) of `<proc>/self/mountinfo`.
    public static func referenceTargets(to globalPath: FilePath, proc: FilePath = "/proc") throws(MountError)
        -> [FilePath]
    {
        let text = try mountInfoBytes(proc: proc)
        let target = MountInfo.escape(globalPath.lexicallyNormalized().string)[...]
        // The top mount at the global path: its device and root.
        var global: (device: DeviceNumber, root: ArraySlice<UInt8>)?
        MountInfo.forEachLine(text) { line in
            if line.target.elementsEqual(target) { global = (line.device, line.root) }
        }
        guard let global else { return [] }
        var targets: [FilePath] = []
        MountInfo.forEachLine(text) { line in
            guard line.device == global.device, !line.target.elementsEqual(target),
                MountInfo.isPath(line.root, under: global.root)
            else { return }
            targets.append(FilePath(MountInfo.unescape(line.target)))
        }
        return targets
    }

    /// The device of the top mount at `path` (the one a lookup of the path sees), by the same
    /// byte-level walk as ``referenceTargets(to:proc:)``; `nil` when nothing is mounted there.
    /// What tells a volume's own mount from whatever else may be at its path (an empty
    /// directory after a reboot, another device).
    ///
    /// - Throws: `MountError` `.mountTableUnreadable`.
    /// - Touches: open(2)/read(2) of `<proc>/self/mountinfo`.
    public static func mountedDevice(at path: FilePath, proc: FilePath = "/proc") throws(MountError) -> DeviceNumber? {
        let text = try mountInfoBytes(proc: proc)
        let target = MountInfo.escape(path.lexicallyNormalized().string)[...]
        var device: DeviceNumber?
        MountInfo.forEachLine(text) { line in
            if line.target.elementsEqual(target) { device = line.device }
        }
        return device
    }

    static func mountInfoBytes(proc: FilePath) throws(MountError) -> [UInt8] {
        let path = proc.appending("self/mountinfo")
        do {
            return try Files.readBytes(path, limit: 64 << 20)
        } catch {
            throw MountError(.mountTableUnreadable, "cannot read \(path); is /proc mounted?", path: path, cause: error)
        }
    }

    /// The other places the mount at `globalPath` is visible: mounts of the same device whose
    /// root is the global mount's root or below it, at other targets (bind mounts of it, as
    /// mount-utils' `GetMountRefs`). Empty when nothing is mounted at `globalPath`. The answer
    /// of libmount's table, kept as the oracle of ``referenceTargets(to:proc:)`` (the one API
    /// for the question; the parity test holds them equal).
    package func references(to globalPath: FilePath) -> [MountEntry] {
        let globalPath = globalPath.lexicallyNormalized()
        guard let global = mounts(at: globalPath).last else { return [] }
        return entries.filter {
            $0.device == global.device && $0.root.starts(with: global.root) && $0.target != globalPath
        }
    }
}

/// A libmount table; unreferenced in `deinit`.
final class LibmountTable {
    let handle: OpaquePointer

    init() throws(MountError) {
        guard let handle = mnt_new_table() else {
            throw MountError(.mountTableUnreadable, "libmount could not allocate a table")
        }
        self.handle = handle
    }

    /// A table parsed from mountinfo bytes read from `path` (named in errors; `nil` for text).
    convenience init(parsing bytes: [UInt8], path: FilePath?) throws(MountError) {
        try self.init()
        if bytes.isEmpty { return }
        var bytes = bytes
        let rc: CInt = bytes.withUnsafeMutableBytes { raw -> CInt in
            guard let stream = fmemopen(raw.baseAddress, raw.count, "r") else { return -1 }
            defer { fclose(stream) }
            return mnt_table_parse_stream(handle, stream, "mountinfo")
        }
        if rc != 0 {
            throw MountError(
                .mountTableUnreadable, "libmount could not parse " + (path.map { "\($0)" } ?? "the mountinfo text"),
                path: path)
        }
    }

    deinit { mnt_unref_table(handle) }

    /// Calls `body` with every libmount fs of the table, in order, until it returns `false`.
    func forEach(_ body: (OpaquePointer) -> Bool) {
        guard let iterator = mnt_new_iter(Int32(MNT_ITER_FORWARD)) else { return }
        defer { mnt_free_iter(iterator) }
        var fs: OpaquePointer?
        while mnt_table_next_fs(handle, iterator, &fs) == 0, let fs {
            if !body(fs) { return }
        }
    }

    /// Copies every entry of the table into Swift values.
    func entries() -> [MountEntry] {
        var result: [MountEntry] = []
        func text(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
        forEach { fs in
            result.append(
                MountEntry(
                    id: Int(mnt_fs_get_id(fs)),
                    parentID: Int(mnt_fs_get_parent_id(fs)),
                    device: DeviceNumber(rdev: mnt_fs_get_devno(fs)),
                    root: FilePath(text(mnt_fs_get_root(fs)) ?? "/"),
                    target: FilePath(text(mnt_fs_get_target(fs)) ?? ""),
                    fsType: text(mnt_fs_get_fstype(fs)) ?? "",
                    source: text(mnt_fs_get_source(fs)),
                    vfsOptions: text(mnt_fs_get_vfs_options(fs)) ?? "",
                    fsOptions: text(mnt_fs_get_fs_options(fs)) ?? "",
                    optionalFields: text(mnt_fs_get_optional_fields(fs)) ?? ""))
            return true
        }
        return result
    }
}
