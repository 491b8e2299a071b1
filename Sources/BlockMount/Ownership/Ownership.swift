import LinuxSystem
import Synchronization
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// Gives a volume to a group (Kubernetes' fsGroup): group owner `gid`, group read/write
/// (+execute on directories and on files their owner may execute), setgid on directories.
///
/// The walk is fd-relative and never follows a symlink: directories are opened with
/// `openat(O_NOFOLLOW|O_DIRECTORY)` relative to their parent's fd, other entries are changed
/// with `fchownat`/`fchmodat2(AT_SYMLINK_NOFOLLOW)` (glibc's `fchmodat` before Linux 6.6); no full path is ever resolved again, so a
/// symlink planted in the volume cannot redirect a change outside it. Symlinks themselves are
/// skipped; other mounts under the root are not entered (st_dev check). Each entry costs one
/// stat; chown and chmod run only when something differs.
public enum Ownership {
    /// When to walk.
    public enum Policy: Sendable, Hashable {
        /// Always walk the whole tree.
        case always
        /// Walk only when the root does not match yet (group, setgid, group rwx): O(1) otherwise
        /// (Kubernetes' `OnRootMismatch`, PR #88488).
        case onRootMismatch
    }

    /// What `apply` did.
    public struct Report: Sendable, Hashable {
        /// Why nothing was walked.
        public enum Skip: Sendable, Hashable {
            /// The volume is read-only.
            case readOnly
            /// `.onRootMismatch` and the root already matches.
            case rootMatches
        }

        /// Set when the walk did not run.
        public var skipped: Skip?
        /// Entries examined (the root included).
        public var visited = 0
        /// Entries whose group or mode was changed.
        public var changed = 0
        /// Symlinks left alone.
        public var symlinks = 0
        /// Device nodes, FIFOs and sockets left alone.
        public var specialFiles = 0
        /// Mount points of other filesystems below the root that were not entered.
        public var otherMounts = 0
    }

    /// Applies group ownership `gid` to the tree at `root`.
    ///
    /// - Parameters:
    ///   - root: the volume's root directory (not a symlink).
    ///   - gid: the group that gets the volume.
    ///   - policy: `.onRootMismatch` (default) or `.always`.
    ///   - readOnly: the volume is mounted read-only: nothing is done.
    /// - Returns: counts of what was visited and changed.
    /// - Throws: `MountError` `.ownershipFailed` with the failing call and the path below `root`.
    /// - Touches: openat(2), fstat(2), fstatat(2), getdents (readdir(3)), fchown(2)/fchownat(2),
    ///   fchmod(2)/fchmodat2(2) (or fchmodat(3) before Linux 6.6) under `root`.
    public static func apply(
        root: FilePath, gid: UInt32, policy: Policy = .onRootMismatch, readOnly: Bool = false
    ) throws(MountError) -> Report {
        if readOnly { return Report(skipped: .readOnly) }
        let fd: CInt
        let opened = valueOrErrno(retryOnInterrupt: false) {
            system_openat(AT_FDCWD, root.string, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        switch opened {
        case .success(let value): fd = value
        case .failure(let errno):
            throw MountError(
                .ownershipFailed, "cannot open the volume root \(root) (a directory, not a symlink)",
                path: root, cause: SyscallError("open", path: root, errno: errno))
        }
        var st = stat()
        if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_fstat(fd, &st) }) {
            let cause = SyscallError("fstat", path: root, errno: errno)
            _ = system_close(fd)
            throw MountError(.ownershipFailed, "cannot stat the volume root \(root)", path: root, cause: cause)
        }
        if policy == .onRootMismatch && rootMatches(st, gid: gid) {
            _ = system_close(fd)
            return Report(skipped: .rootMatches, visited: 1)
        }
        let walker = OwnershipWalker(root: root, gid: gid_t(gid), device: st.st_dev)
        try walker.directory(fd, st, relative: [])
        return walker.report
    }

    /// Whether the root already has group `gid`, setgid and group rwx.
    static func rootMatches(_ st: stat, gid: UInt32) -> Bool {
        st.st_gid == gid && st.st_mode & S_ISGID != 0 && st.st_mode & S_IRWXG == S_IRWXG
    }

    /// The mode an entry should have: group rw, group x on directories and on files their
    /// owner may execute, setgid on directories. A chown of a regular file drops its setuid
    /// and setgid bits (the kernel does); they are not given back (`droppingSetID`).
    static func desiredMode(_ mode: mode_t, droppingSetID: Bool = false) -> mode_t {
        let isDirectory = mode & S_IFMT == S_IFDIR
        var want = mode & 0o7777 | S_IRGRP | S_IWGRP
        if isDirectory || mode & S_IXUSR != 0 { want |= S_IXGRP }
        if isDirectory { want |= S_ISGID }
        if droppingSetID { want &= ~(S_ISUID | S_ISGID) }
        return want
    }
}

/// One walk: counters, the root's device, and the names of the directories on the way down
/// (kept only to name a path in an error).
private final class OwnershipWalker {
    let root: FilePath
    let gid: gid_t
    let device: dev_t
    var report = Ownership.Report()
    private static let nameOffset = MemoryLayout<dirent>.offset(of: \.d_name)!
    private static let keepOwner = uid_t.max  // (uid_t)-1: leave the owner alone

    init(root: FilePath, gid: gid_t, device: dev_t) {
        self.root = root
        self.gid = gid
        self.device = device
    }

    private func failure(_ call: String, _ relative: [String], _ name: String? = nil, _ errno: Errno) -> MountError {
        var path = root
        for component in relative { path.append(component) }
        if let name { path.append(name) }
        return MountError(
            .ownershipFailed, "cannot give \(path) to group \(gid)", path: path,
            cause: SyscallError(call, path: path, errno: errno))
    }

    /// Fixes the open directory `fd` itself, then every entry in it; closes `fd`.
    func directory(_ fd: CInt, _ st: stat, relative: [String]) throws(MountError) {
        report.visited += 1
        var changed = false
        if st.st_gid != gid {
            let chowned = valueOrErrno(retryOnInterrupt: false) { system_fchown(fd, Self.keepOwner, gid) }
            if case .failure(let errno) = chowned {
                _ = system_close(fd)
                throw failure("fchown", relative, nil, errno)
            }
            changed = true
        }
        let want = Ownership.desiredMode(st.st_mode)
        if want != st.st_mode & 0o7777 {
            if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_fchmod(fd, want) }) {
                _ = system_close(fd)
                throw failure("fchmod", relative, nil, errno)
            }
            changed = true
        }
        if changed { report.changed += 1 }

        guard let stream = system_fdopendir(fd) else {
            let errno = Errno.current
            _ = system_close(fd)
            throw failure("fdopendir", relative, nil, errno)
        }
        defer { _ = system_closedir(stream) }
        while let entry = system_readdir(stream) {
            let name = UnsafeRawPointer(entry).advanced(by: Self.nameOffset).assumingMemoryBound(to: CChar.self)
            if name[0] == 0x2E && (name[1] == 0 || (name[1] == 0x2E && name[2] == 0)) { continue }
            try self.entry(in: fd, name: name, type: entry.pointee.d_type, relative: relative)
        }
        // readdir ends on an error as at the end: a failed read must not pass for a walk that
        // reached every entry.
        let errno = Errno.current
        if errno.rawValue != 0 { throw failure("readdir", relative, nil, errno) }
    }

    private func entry(in dirfd: CInt, name: UnsafePointer<CChar>, type: UInt8, relative: [String]) throws(MountError) {
        // DT_DIR = 4, DT_LNK = 10 (dirent.h); DT_UNKNOWN (0) falls back to fstatat.
        if type == 10 {
            report.symlinks += 1
            return
        }
        var st = stat()
        if type != 4 {
            let status = valueOrErrno(retryOnInterrupt: false) {
                system_fstatat(dirfd, name: name, &st, AT_SYMLINK_NOFOLLOW)
            }
            if case .failure(let errno) = status {
                if errno == .noSuchFileOrDirectory { return }  // removed meanwhile
                throw failure("fstatat", relative, String(cString: name), errno)
            }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                report.symlinks += 1
                return
            case S_IFDIR:
                break
            case S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK:
                // Device nodes, FIFOs and sockets a workload left on the volume are not given to
                // the group: a block node (8:0 is /dev/sda) with group rw would hand the node's
                // disks to every fsGroup member.
                report.specialFiles += 1
                return
            default:
                if st.st_dev != device {  // a file bind-mounted here from elsewhere
                    report.otherMounts += 1
                    return
                }
                try file(in: dirfd, name: name, st, relative: relative)
                return
            }
        }
        let child: CInt
        let opened = valueOrErrno(retryOnInterrupt: false) {
            system_openat(dirfd, name: name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        switch opened {
        case .success(let value): child = value
        case .failure(.noSuchFileOrDirectory): return
        case .failure(.tooManySymbolicLinkLevels), .failure(.notDirectory):
            // Replaced by a symlink or a file since readdir: handle it as what it is now.
            return try entry(in: dirfd, name: name, type: 0, relative: relative)
        case .failure(let errno): throw failure("openat", relative, String(cString: name), errno)
        }
        if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_fstat(child, &st) }) {
            _ = system_close(child)
            throw failure("fstat", relative, String(cString: name), errno)
        }
        if st.st_dev != device {
            _ = system_close(child)
            report.otherMounts += 1
            return
        }
        try directory(child, st, relative: relative + [String(cString: name)])
    }

    private func file(in dirfd: CInt, name: UnsafePointer<CChar>, _ st: stat, relative: [String]) throws(MountError) {
        report.visited += 1
        var changed = false
        var dropSetID = false
        if st.st_gid != gid {
            let chowned = valueOrErrno(retryOnInterrupt: false) {
                system_fchownat(dirfd, name: name, Self.keepOwner, gid, AT_SYMLINK_NOFOLLOW)
            }
            if case .failure(let errno) = chowned {
                throw failure("fchownat", relative, String(cString: name), errno)
            }
            changed = true
            dropSetID = st.st_mode & S_IFMT == S_IFREG && st.st_mode & (S_ISUID | S_ISGID) != 0
        }
        let want = Ownership.desiredMode(st.st_mode, droppingSetID: dropSetID)
        if want != st.st_mode & 0o7777 || dropSetID {
            if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { changeMode(dirfd, name, want) }) {
                throw failure("fchmodat", relative, String(cString: name), errno)
            }
            changed = true
        }
        if changed { report.changed += 1 }
    }

    /// Whether fchmodat2 is known to be unusable in this process: ENOSYS (a kernel before 6.6),
    /// or EPERM where glibc's path then succeeds (a seccomp profile that does not know the call).
    private static let fchmodat2Unusable = Atomic<Bool>(false)

    /// chmod of an entry without following a symlink. fchmodat2 is one syscall; glibc 2.36's
    /// fchmodat(AT_SYMLINK_NOFOLLOW) is an O_PATH open, an fstat, a chmod of /proc/self/fd/N and a
    /// close, about as much as the rest of the walk per file (issue #6).
    /// 0, or -1 with `errno` set.
    private func changeMode(_ dirfd: CInt, _ name: UnsafePointer<CChar>, _ mode: mode_t) -> CInt {
        if !Self.fchmodat2Unusable.load(ordering: .relaxed) {
            let changed = valueOrErrno(retryOnInterrupt: false) {
                system_fchmodat2(dirfd, name: name, mode, AT_SYMLINK_NOFOLLOW)
            }
            guard case .failure(let errno) = changed else { return 0 }
            guard errno == .noFunction || errno == .notPermitted else { return -1 }
            let fallback = system_fchmodat(dirfd, name: name, mode, AT_SYMLINK_NOFOLLOW)
            if errno == .noFunction || fallback == 0 { Self.fchmodat2Unusable.store(true, ordering: .relaxed) }
            return fallback
        }
        return system_fchmodat(dirfd, name: name, mode, AT_SYMLINK_NOFOLLOW)
    }
}
