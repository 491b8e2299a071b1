// Online growth of a mounted filesystem to its device's size: resize2fs for ext2/3/4 (given the
// device), xfs_growfs for xfs (given the mount point). Like mkfs, through `Subprocess.run`: no
// shell, stdin /dev/null, a deadline.
import LinuxSystem
import SystemPackage

/// Grows mounted filesystems.
public enum FilesystemResizer {
    /// The filesystem types `grow` can grow online.
    public static let growableTypes: Set<String> = ["ext2", "ext3", "ext4", "xfs"]

    /// Grows the filesystem of `fsType` on `device`, mounted at `mountPoint`, to the device's
    /// size. A filesystem that fills its device already is success (both tools say "nothing to
    /// do" and exit 0).
    ///
    /// - Throws: `MountError` `.resizeFailed` (an unsupported type, a missing tool, a failure or
    ///   a timeout, with the tool's last output).
    /// - Touches: posix_spawn(3) of `resize2fs <device>` or `xfs_growfs <mountPoint>`.
    public static func grow(
        device: FilePath, mountPoint: FilePath, fsType: String, timeout: Duration = .seconds(600)
    ) throws(MountError) {
        let arguments: [String]
        switch fsType {
        case "ext2", "ext3", "ext4": arguments = ["resize2fs", device.string]
        case "xfs": arguments = ["xfs_growfs", mountPoint.string]
        default:
            throw MountError(
                .resizeFailed, "\(device) holds \(fsType), which cannot be grown online (ext2/3/4 and xfs can)",
                path: device)
        }
        let run: ProcessResult
        do {
            run = try Subprocess.run(arguments, timeout: timeout)
        } catch {
            throw MountError(
                .resizeFailed,
                "cannot run \(arguments[0]) to grow \(device); is \(fsType == "xfs" ? "xfsprogs" : "e2fsprogs") "
                    + "installed?", path: device, cause: error)
        }
        guard run.succeeded else {
            let why =
                run.timedOut
                ? "timed out and was killed"
                : "exited with \(run.exitCode.map(String.init) ?? "signal \(run.signal ?? 0)")"
            // EXT4_IOC_RESIZE_FS needs CAP_SYS_RESOURCE, which a container without it lacks although it is root.
            let hint =
                run.output.contains("Permission denied") && arguments[0] == "resize2fs"
                ? " (growing a mounted ext4 needs CAP_SYS_RESOURCE: run the agent privileged)" : ""
            throw MountError(
                .resizeFailed, "\(arguments[0]) on \(arguments[1]) \(why): \(String(run.output.suffix(400)))\(hint)",
                path: device)
        }
    }
}
