import CSupport
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// Mounts, bind mounts, unmounts and mount-point tests, by system call (mount(2), umount2(2),
/// open_tree(2)/mount_setattr(2)/move_mount(2), statx(2)); the mount table is read through
/// the injectable `proc` root.
public struct Mounter: Sendable {
    /// How `bind` makes a bind mount.
    public enum BindStrategy: Sendable, Hashable {
        /// The atomic path where the kernel has it, the two-step path on ENOSYS.
        case automatic
        /// open_tree + mount_setattr + move_mount only: a read-only bind never exists writable.
        case atomic
        /// mount(MS_BIND) then mount(MS_BIND|MS_REMOUNT|MS_RDONLY|locked flags).
        case twoStep
    }

    /// How `bind` made the bind mount.
    public enum BindMethod: Sendable, Hashable {
        case atomic
        case twoStep
    }

    /// What `unmount` found.
    public enum UnmountOutcome: Sendable, Hashable {
        /// Something was mounted and is now unmounted.
        case unmounted
        /// Nothing was mounted there (or the path does not exist): nothing to do.
        case notMounted
    }

    /// The procfs root (`/proc`); tests inject a fixture tree.
    public var proc: FilePath
    /// How `bind` works.
    public var bindStrategy: BindStrategy

    /// - Parameters:
    ///   - proc: the procfs root, read for `self/mountinfo` and for busy holders.
    ///   - bindStrategy: `.automatic` (atomic where available) by default.
    public init(proc: FilePath = "/proc", bindStrategy: BindStrategy = .automatic) {
        self.proc = proc
        self.bindStrategy = bindStrategy
    }

    /// The mount table seen through `proc`.
    ///
    /// - Throws: `MountError` `.mountTableUnreadable`.
    /// - Touches: `<proc>/self/mountinfo`.
    public func mountTable() throws(MountError) -> MountTable { try MountTable.current(proc: proc) }

    // MARK: mount

    /// Mounts the filesystem on `device` at `target` with mount(2), and checks that the mount
    /// carries the flags it must.
    ///
    /// `options` is split by libmount into `MS_*` flags and filesystem data after a strict check
    /// (``MountOptions/validate(_:)``); `readOnly` and `requiredFlags` are added as flags, never
    /// as text after the caller's text (an unbalanced quote there would swallow them); xfs always
    /// gets `nouuid` (clones and snapshots share the UUID, ceph-csi#966). After mount(2),
    /// statvfs(3) of `target` must show `MS_RDONLY` when read-only and every flag of
    /// `requiredFlags` (`MS_NODEV`, `MS_NOSUID`, `MS_NOEXEC`); otherwise the mount is undone.
    ///
    /// - Parameters:
    ///   - device: the block device.
    ///   - target: an existing directory.
    ///   - fsType: the filesystem type to mount as (`ext4`, `xfs`, …).
    ///   - options: a mount(8)-style option string (`noatime,discard`).
    ///   - readOnly: mount read-only.
    ///   - requiredFlags: `MS_*` flags the mount must have whatever `options` says.
    /// - Throws: `MountError` `.invalidOptions` (options malformed), `.mountFailed` (mount(2)
    ///   refused; the errno and a likely cause are in the error; the data string is not; or the
    ///   mount came out without a required flag and was undone).
    /// - Touches: mount(2), statvfs(3); umount2(2) when the check fails.
    public func mount(
        device: FilePath, target: FilePath, fsType: String, options: String = "", readOnly: Bool = false,
        requiredFlags: UInt = 0
    ) throws(MountError) {
        var split = try MountOptions(options)
        if readOnly { split.flags |= UInt(MS_RDONLY) }
        split.flags |= requiredFlags
        if fsType == "xfs" { split = split.addingData("nouuid") }
        let data = split.data.isEmpty ? nil : split.data
        let mounted = valueOrErrno(retryOnInterrupt: false) {
            system_mount(device.string, target.string, fsType, split.flags, data)
        }
        if case .failure(let errno) = mounted {
            throw MountError(
                .mountFailed, "cannot mount \(device) (\(fsType)) at \(target): \(Self.mountHint(errno, readOnly))",
                path: target, cause: SyscallError("mount", path: target, errno: errno))
        }
        try requireFlags(requiredFlags | (readOnly ? UInt(MS_RDONLY) : 0), at: target, what: "the mount of \(device)")
    }

    /// The `MS_*` flags that `requireFlags` can check (statvfs reports them as `ST_*`, same values).
    static let checkableFlags = UInt(MS_RDONLY) | UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)

    /// Throws (after undoing the mount at `target`) unless statvfs(3) of `target` shows every
    /// flag of `flags` (`MS_RDONLY`, `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`; the kernel reports
    /// `ST_*` with the `MS_*` values, fs/statfs.c).
    func requireFlags(_ flags: UInt, at target: FilePath, what: String) throws(MountError) {
        let flags = flags & Self.checkableFlags
        guard flags != 0 else { return }
        var vfs = statvfs()
        if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_statvfs(target.string, &vfs) }) {
            let cause = SyscallError("statvfs", path: target, errno: errno)
            undoBind(target)
            throw MountError(
                .mountFailed, "cannot read the flags of \(what) at \(target); it was undone",
                path: target, cause: cause)
        }
        let missing = flags & ~UInt(vfs.f_flag)
        guard missing != 0 else { return }
        let names = [
            (UInt(MS_RDONLY), "ro"), (UInt(MS_NOSUID), "nosuid"), (UInt(MS_NODEV), "nodev"),
            (UInt(MS_NOEXEC), "noexec"),
        ].filter { missing & $0.0 != 0 }.map(\.1)
        undoBind(target)
        throw MountError(
            .mountFailed,
            "\(what) at \(target) came out without \(names.joined(separator: ",")); "
                + "it was undone", path: target)
    }

    static func mountHint(_ errno: Errno, _ readOnly: Bool) -> String {
        switch errno {
        case .resourceBusy: "the device is already mounted elsewhere or held by another user"
        case .invalidArgument: "bad superblock, wrong filesystem type, or an option the filesystem rejects"
        case .readOnlyFileSystem: readOnly ? "the device is read-only" : "the device is read-only; mount it read-only"
        case .operationNotSupportedByDevice: "the kernel does not support this filesystem type (module not loaded?)"
        case .noSuchFileOrDirectory: "the device or the target directory does not exist"
        case .notDirectory: "the target is not a directory"
        case .notPermitted, .permissionDenied: "mounting needs CAP_SYS_ADMIN in the initial mount namespace"
        case .ioError: "I/O error reading the device (check dmesg)"
        default: "\(errno)"
        }
    }

    // MARK: bind

    /// Bind-mounts `source` onto `target`, read-only if asked, and verifies the result.
    ///
    /// Atomic path (Linux ≥ 5.12): `open_tree(OPEN_TREE_CLONE)`, `mount_setattr(MOUNT_ATTR_RDONLY)`
    /// on the detached clone, `move_mount` onto `target`: the bind is never visible writable.
    /// Two-step path: `mount(source, target, NULL, MS_BIND)`, then for read-only
    /// `mount(NULL, target, NULL, MS_BIND|MS_REMOUNT|MS_RDONLY|<nodev, nosuid, noexec,
    /// noatime, nodiratime, relatime of the source>)` — with `MS_BIND`, so that only this mount
    /// turns read-only and not the superblock under the global mount; the kernel refuses to
    /// clear the source's locked flags (util-linux#1705, kubernetes#118457), so they are kept.
    /// A failed remount or verification undoes the bind: never a writable bind where
    /// read-only was asked. The verification asks the kernel about `target` itself (statx
    /// mount root, statvfs flags), not the mount table.
    ///
    /// `requiredFlags` (`MS_NODEV`, `MS_NOSUID`, `MS_NOEXEC`) must show on the bind afterwards
    /// (statvfs), or the bind is undone.
    ///
    /// - Returns: which path made the bind.
    /// - Throws: `MountError` `.mountFailed` (a call refused, or a required flag is missing; the
    ///   bind is undone),
    ///   `.bindVerificationFailed` (the target is not a mount point afterwards, or is writable
    ///   where read-only was asked; the bind is undone), `.mountTableUnreadable` (kernels
    ///   before 5.8 only).
    /// - Touches: statvfs(3) of `source` and `target`, open_tree(2), mount_setattr(2),
    ///   move_mount(2) or mount(2), statx(2), umount2(2) on failure; mountinfo before 5.8.
    @discardableResult
    public func bind(
        source: FilePath, target: FilePath, readOnly: Bool, requiredFlags: UInt = 0
    ) throws(MountError) -> BindMethod {
        var method = BindMethod.twoStep
        if bindStrategy != .twoStep {
            if try bindAtomically(source: source, target: target, readOnly: readOnly) {
                method = .atomic
            } else if bindStrategy == .atomic {
                throw MountError(
                    .mountFailed,
                    "the kernel lacks open_tree/mount_setattr/move_mount (Linux ≥ 5.12) "
                        + "to bind \(source) at \(target); use the two-step strategy", path: target,
                    cause: SyscallError("open_tree", path: source, errno: .noFunction))
            }
        }
        if method == .twoStep { try bindInTwoSteps(source: source, target: target, readOnly: readOnly) }
        try verifyBind(target: target, readOnly: readOnly)
        // The bind inherits the source's nodev/nosuid/noexec: checked, not assumed.
        try requireFlags(requiredFlags, at: target, what: "the bind of \(source)")
        return method
    }

    /// The atomic path; `false` when the kernel lacks the calls (ENOSYS), nothing done then.
    private func bindAtomically(source: FilePath, target: FilePath, readOnly: Bool) throws(MountError) -> Bool {
        let tree: CInt
        let cloned = valueOrErrno(retryOnInterrupt: false) {
            system_open_tree(AT_FDCWD, source.string, CSUPPORT_OPEN_TREE_CLONE | CSUPPORT_OPEN_TREE_CLOEXEC)
        }
        switch cloned {
        case .success(let fd): tree = fd
        case .failure(.noFunction): return false
        case .failure(let errno):
            throw MountError(
                .mountFailed,
                "cannot clone the mount at \(source) to bind it at \(target): "
                    + Self.mountHint(errno, readOnly),
                path: target, cause: SyscallError("open_tree", path: source, errno: errno))
        }
        // Closing the fd of a clone that was never moved frees it: nothing to undo on failure.
        defer { _ = system_close(tree) }
        if readOnly {
            var attr = csupport_mount_attr(
                attr_set: CSUPPORT_MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0)
            let madeReadOnly = valueOrErrno(retryOnInterrupt: false) {
                system_mount_setattr(tree, "", UInt32(CSUPPORT_AT_EMPTY_PATH), &attr)
            }
            if case .failure(let errno) = madeReadOnly {
                if errno == .noFunction { return false }
                throw MountError(
                    .mountFailed, "cannot make the bind of \(source) read-only", path: target,
                    cause: SyscallError("mount_setattr", path: source, errno: errno))
            }
        }
        let moved = valueOrErrno(retryOnInterrupt: false) {
            system_move_mount(tree, "", AT_FDCWD, target.string, CSUPPORT_MOVE_MOUNT_F_EMPTY_PATH)
        }
        if case .failure(let errno) = moved {
            throw MountError(
                .mountFailed,
                "cannot attach the bind of \(source) at \(target): "
                    + Self.mountHint(errno, readOnly),
                path: target, cause: SyscallError("move_mount", path: target, errno: errno))
        }
        return true
    }

    private func bindInTwoSteps(source: FilePath, target: FilePath, readOnly: Bool) throws(MountError) {
        var locked: UInt = 0
        if readOnly {
            var vfs = statvfs()
            if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_statvfs(source.string, &vfs) })
            {
                throw MountError(
                    .mountFailed, "cannot read the mount flags of \(source) to bind it read-only",
                    path: source, cause: SyscallError("statvfs", path: source, errno: errno))
            }
            // The kernel reports ST_* flags with the values of the MS_* flags (fs/statfs.c).
            let keep =
                UInt(MS_NODEV) | UInt(MS_NOSUID) | UInt(MS_NOEXEC) | UInt(MS_NOATIME)
                | UInt(MS_NODIRATIME) | UInt(MS_RELATIME)
            locked = UInt(vfs.f_flag) & keep
        }
        let bound = valueOrErrno(retryOnInterrupt: false) {
            system_mount(source.string, target.string, nil, UInt(MS_BIND), nil)
        }
        if case .failure(let errno) = bound {
            throw MountError(
                .mountFailed, "cannot bind \(source) at \(target): \(Self.mountHint(errno, readOnly))",
                path: target, cause: SyscallError("mount", path: target, errno: errno))
        }
        guard readOnly else { return }
        let flags = UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY) | locked
        let remounted = valueOrErrno(retryOnInterrupt: false) { system_mount(nil, target.string, nil, flags, nil) }
        if case .failure(let errno) = remounted {
            let cause = SyscallError("mount", path: target, errno: errno)
            undoBind(target)
            throw MountError(
                .mountFailed,
                "cannot make the bind at \(target) read-only; the bind was undone so that "
                    + "no writable bind is left", path: target, cause: cause)
        }
    }

    /// The bind must be the mount at `target` now, read-only when asked. Asked of the kernel
    /// about `target` itself: statx(2) `STATX_ATTR_MOUNT_ROOT` and statvfs(3) `ST_RDONLY` (set
    /// when the mount or its superblock is read-only: either way writes through it fail);
    /// kernels before 5.8 do not report the attribute (and a seccomp filter may refuse statx):
    /// the mount table decides there. A failed check undoes the bind.
    private func verifyBind(target: FilePath, readOnly: Bool) throws(MountError) {
        var sx = statx()
        let flags = AT_SYMLINK_NOFOLLOW | CSUPPORT_AT_NO_AUTOMOUNT
        let status = valueOrErrno(retryOnInterrupt: false) {
            system_statx(AT_FDCWD, target.string, flags, UInt32(STATX_TYPE), &sx)
        }
        if case .failure(let errno) = status {
            let cause = SyscallError("statx", path: target, errno: errno)
            // No statx (before 4.11) or a seccomp filter that refuses it: the table decides.
            if cause.errno == .noFunction || cause.errno == .notPermitted {
                return try verifyBindInMountTable(target: target, readOnly: readOnly)
            }
            undoBind(target)
            throw MountError(
                .bindVerificationFailed, "cannot stat the bind at \(target); it was undone",
                path: target, cause: cause)
        }
        let mountRoot = UInt64(STATX_ATTR_MOUNT_ROOT)
        guard sx.stx_attributes_mask & mountRoot != 0 else {
            return try verifyBindInMountTable(target: target, readOnly: readOnly)
        }
        guard sx.stx_attributes & mountRoot != 0 else {
            undoBind(target)
            throw MountError(.bindVerificationFailed, "\(target) is not a mount point after the bind", path: target)
        }
        guard readOnly else { return }
        var vfs = statvfs()
        if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_statvfs(target.string, &vfs) }) {
            let cause = SyscallError("statvfs", path: target, errno: errno)
            undoBind(target)
            throw MountError(
                .bindVerificationFailed, "cannot read the flags of the bind at \(target); it was undone",
                path: target, cause: cause)
        }
        if UInt(vfs.f_flag) & UInt(ST_RDONLY) == 0 {
            undoBind(target)
            throw MountError(
                .bindVerificationFailed,
                "the bind at \(target) came out writable where read-only was "
                    + "asked; it was undone", path: target)
        }
    }

    /// `verifyBind` by mountinfo (kernels before 5.8): the top mount at `target`, `ro` when asked.
    private func verifyBindInMountTable(target: FilePath, readOnly: Bool) throws(MountError) {
        let table: MountTable
        do {
            table = try mountTable()
        } catch {
            undoBind(target)
            throw error
        }
        guard let top = table.mounts(at: target).last else {
            undoBind(target)
            throw MountError(.bindVerificationFailed, "the bind at \(target) does not show in mountinfo", path: target)
        }
        if readOnly && !top.isReadOnly {
            undoBind(target)
            throw MountError(
                .bindVerificationFailed,
                "the bind at \(target) came out writable where read-only was "
                    + "asked; it was undone", path: target)
        }
    }

    private func undoBind(_ target: FilePath) {
        _ = system_umount2(target.string, CInt(UMOUNT_NOFOLLOW))
    }

    // MARK: unmount

    /// Unmounts `target` with umount2(2) (`UMOUNT_NOFOLLOW`); idempotent.
    ///
    /// - Returns: `.unmounted`, or `.notMounted` when nothing was mounted there (EINVAL) or
    ///   the path does not exist (ENOENT) — both success.
    /// - Throws: `MountError` `.busy` (EBUSY; `holders` lists the mounts below `target` and
    ///   the processes with a cwd, root or open file under it), `.unmountFailed` otherwise.
    /// - Touches: umount2(2); on EBUSY `<proc>/self/mountinfo` and `<proc>/<pid>/{cwd,root,fd/*}`.
    @discardableResult
    public func unmount(_ target: FilePath) throws(MountError) -> UnmountOutcome {
        let unmounted = valueOrErrno(retryOnInterrupt: false) { system_umount2(target.string, CInt(UMOUNT_NOFOLLOW)) }
        guard case .failure(let errno) = unmounted else { return .unmounted }
        let cause = SyscallError("umount2", path: target, errno: errno)
        switch errno {
        case .invalidArgument, .noSuchFileOrDirectory:
            return .notMounted
        case .resourceBusy:
            let holders = busyHolders(of: target)
            let what =
                holders.isEmpty
                ? "nothing visible in this mount namespace holds it (another namespace may)"
                : holders.map(\.description).joined(separator: "; ")
            throw MountError(
                .busy, "cannot unmount \(target): it is busy: \(what)", path: target,
                cause: cause, holders: holders)
        default:
            throw MountError(.unmountFailed, "cannot unmount \(target): \(errno)", path: target, cause: cause)
        }
    }

    /// What keeps `target` busy: mounts below it, then processes using it (the bounded scan of
    /// `processesHolding`).
    func busyHolders(of target: FilePath, limit: Int = 32) -> [MountError.Holder] {
        let target = target.lexicallyNormalized()
        var holders: [MountError.Holder] = []
        if let table = try? mountTable() {
            for entry in table.mounts(under: target) where entry.target != target {
                holders.append(.mount(entry.target))
            }
        }
        let processes = processesHolding(proc: proc, limit: max(0, limit - holders.count)) { resolved, link in
            // A process whose root is the target itself is chrooted into it, not holding it.
            let held = FilePath(resolved)
            return held.starts(with: target) && !(link == "root" && held == target)
        }
        holders += processes.map { .process(pid: $0.pid, command: $0.command, path: FilePath($0.path)) }
        return holders
    }
}
