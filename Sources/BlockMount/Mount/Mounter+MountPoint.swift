import CSupport
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// What is at a path, as far as mounts go.
public enum MountPointStatus: Sendable, Hashable {
    /// Nothing at the path.
    case missing
    /// A path that is not the root of a mount.
    case notMountPoint
    /// The root of a mount (also a bind mount from the same filesystem).
    case mountPoint
    /// stat fails with ENOTCONN, ESTALE, EIO, ENODEV, EACCES, EHOSTDOWN or EWOULDBLOCK: a
    /// mount whose backend is gone. It can (and should) still be unmounted.
    case corrupted(Errno)
}

extension Mounter {
    /// The stat errors that mean "a mount is here but its backend is gone" (mount-utils'
    /// `IsCorruptedMnt`).
    static let corruptionErrors: Set<Errno> = [
        .socketNotConnected, .staleNFSFileHandle, .ioError, .operationNotSupportedByDevice,
        .permissionDenied, .hostIsDown, .wouldBlock,
    ]

    /// Tells whether `path` is a mount point, exactly.
    ///
    /// statx(2) `STATX_ATTR_MOUNT_ROOT` (Linux ≥ 5.8) sees bind mounts of the same filesystem,
    /// which an st_dev comparison misses (kubernetes#72347); on kernels that do not report the
    /// attribute the mount table (`<proc>/self/mountinfo`) decides, by exact target (give a
    /// path without symlinks then).
    ///
    /// - Throws: `MountError` `.mountTableUnreadable` (fallback only), `.probeFailed` for an
    ///   unexpected stat error.
    /// - Touches: statx(2) with `AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT`; maybe mountinfo.
    public func mountPointStatus(_ path: FilePath) throws(MountError) -> MountPointStatus {
        var sx = statx()
        let flags = AT_SYMLINK_NOFOLLOW | CSUPPORT_AT_NO_AUTOMOUNT
        let status = valueOrErrno(retryOnInterrupt: false) {
            system_statx(AT_FDCWD, path.string, flags, UInt32(STATX_TYPE), &sx)
        }
        if case .failure(let errno) = status {
            if errno == .noSuchFileOrDirectory || errno == .notDirectory { return .missing }
            if Self.corruptionErrors.contains(errno) { return .corrupted(errno) }
            throw MountError(
                .probeFailed, "cannot stat \(path) to see whether it is a mount point", path: path,
                cause: SyscallError("statx", path: path, errno: errno))
        }
        let mountRoot = UInt64(STATX_ATTR_MOUNT_ROOT)
        if sx.stx_attributes_mask & mountRoot != 0 {
            return sx.stx_attributes & mountRoot != 0 ? .mountPoint : .notMountPoint
        }
        return try mountTable().mounts(at: path).isEmpty ? .notMountPoint : .mountPoint
    }

    /// Whether `path` is a mount point (see `mountPointStatus`); a missing path is not one.
    ///
    /// - Throws: `MountError` `.corruptedMount` when stat says the mount's backend is gone
    ///   (use `cleanupMountPoint` to remove it), and the errors of `mountPointStatus`.
    /// - Touches: statx(2); maybe mountinfo.
    public func isMountPoint(_ path: FilePath) throws(MountError) -> Bool {
        switch try mountPointStatus(path) {
        case .missing, .notMountPoint: return false
        case .mountPoint: return true
        case .corrupted(let errno):
            throw MountError(
                .corruptedMount,
                "\(path) is a corrupted mount (its backend is gone); "
                    + "unmount it with cleanupMountPoint", path: path,
                cause: SyscallError("statx", path: path, errno: errno))
        }
    }

    /// Unmounts whatever is mounted at `target` (also a corrupted mount, also stacked mounts)
    /// and removes the then empty directory. A missing `target` is success.
    ///
    /// - Returns: whether there was anything to undo (a mount, a directory or file): `false` when
    ///   `target` was missing.
    /// - Throws: `MountError` `.busy` / `.unmountFailed` from `unmount`, `.directoryFailed`
    ///   when the directory cannot be removed (not empty: its data is never deleted).
    /// - Touches: statx(2), umount2(2), rmdir (unlinkat(2) `AT_REMOVEDIR`).
    @discardableResult
    public func cleanupMountPoint(_ target: FilePath) throws(MountError) -> Bool {
        // The common case (teardown, detach) is a mounted target: unmount it before looking,
        // which saves a statx. Any failure (not mounted, missing, busy, …) is left to the loop,
        // which looks first and reports it (a busy target then names its holders).
        var changed = system_umount2(target.string, CInt(UMOUNT_NOFOLLOW)) == 0
        for _ in 0..<16 {
            switch try mountPointStatus(target) {
            case .missing:
                return changed
            case .notMountPoint:
                do {
                    try Files.removeDirectory(target)
                } catch {
                    if error.errno == .notDirectory {
                        do { try Files.removeFile(target) } catch {
                            throw MountError(.directoryFailed, "cannot remove \(target)", path: target, cause: error)
                        }
                        return true
                    }
                    let why = error.errno == .directoryNotEmpty ? " (not empty; its content is left alone)" : ""
                    throw MountError(
                        .directoryFailed, "cannot remove the mount point \(target)\(why)",
                        path: target, cause: error)
                }
                return true
            case .mountPoint, .corrupted:
                changed = true
                if try unmount(target) == .notMounted {
                    throw MountError(
                        .unmountFailed, "\(target) looks mounted but umount2 says it is not",
                        path: target)
                }
            }
        }
        throw MountError(.unmountFailed, "\(target) is still a mount point after 16 unmounts", path: target)
    }
}
