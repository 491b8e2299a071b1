import BlockMount
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

// The lifecycle's use of BlockMount, with MountError wrapped into VolumeError(.mount).
extension BlockVolumePlugin {
    var mounter: Mounter { Mounter(proc: host.proc) }

    func wrap<R>(_ what: @autoclosure () -> String, _ body: () throws(MountError) -> R) throws(VolumeError) -> R {
        do {
            return try body()
        } catch {
            throw VolumeError(.mount, "\(what()): \(error.message)", path: error.path, cause: .mount(error))
        }
    }

    /// Whether `path` is a mount point; a corrupted mount (ENOTCONN, ESTALE, EIO, …) counts, so
    /// that cleanup unmounts it.
    func isMounted(_ path: FilePath) throws(VolumeError) -> Bool {
        switch try wrap(
            "cannot tell whether \(path) is mounted",
            { () throws(MountError) in
                try mounter.mountPointStatus(path)
            })
        {
        case .mountPoint, .corrupted: return true
        case .missing, .notMountPoint: return false
        }
    }

    /// Unmounts `path` if mounted (corrupted too) and removes its empty directory.
    @discardableResult
    func cleanupMountPoint(_ path: FilePath) throws(VolumeError) -> Bool {
        try wrap("cannot clean up \(path)") { () throws(MountError) in try mounter.cleanupMountPoint(path) }
    }

    func mountTable() throws(VolumeError) -> MountTable {
        try wrap("cannot read the mount table") { () throws(MountError) in try mounter.mountTable() }
    }

    /// Workload paths bind-mounted from `global` (same device and root, other target).
    func workloadMounts(of global: FilePath) throws(VolumeError) -> [FilePath] {
        try wrap("cannot read the mount table") { () throws(MountError) in
            try MountTable.referenceTargets(to: global, proc: host.proc)
        }
    }

    func formatAndMount(
        device: AttachedDevice<Provider.Identity>, spec: VolumeSpec, at global: FilePath, resuming: Bool,
        timings: inout PhaseTimings, willFormat: () throws(VolumeError) -> Void
    ) throws(VolumeError) -> (formatted: Bool, fsType: String?, mismatch: String?) {
        if case .corrupted = try wrap(
            "cannot inspect \(global)",
            { () throws(MountError) in
                try mounter.mountPointStatus(global)
            })
        {
            try cleanupMountPoint(global)
        }
        var recordError: VolumeError?
        let result: FormatAndMountResult
        do {
            result = try mounter.formatAndMount(
                device: device.path, target: global, fsType: spec.fsType,
                mountOptions: Self.userMountOptions(spec.mountOptions), formatOptions: spec.formatOptions,
                readOnly: spec.readOnly,
                requiredFlags: Self.requiredMountFlags(spec.mountOptions), resumingInterruptedFormat: resuming
            ) { () throws(MountError) in
                do throws(VolumeError) {
                    try willFormat()
                } catch {
                    recordError = error
                    throw MountError(
                        .formatFailed, "\(device.path) was not formatted: \(error.message)", path: device.path)
                }
            }
        } catch {
            if let recordError { throw recordError }
            throw VolumeError(
                .mount, "cannot format and mount \(device.path) for volume \(spec): \(error.message)", path: error.path,
                cause: .mount(error))
        }
        timings.record("probe", result.timings.probe)
        if result.outcome == .formattedAndMounted {
            timings.record("mkfs-queue", result.timings.formatQueue)
            timings.record("mkfs", result.timings.format)
        }
        timings.record("mount", result.timings.mount)
        let mismatch =
            result.isFilesystemMismatch
            ? "device \(device.path) holds \(result.fsType), not \(spec.fsType); mounted as \(result.fsType)" : nil
        return (result.outcome == .formattedAndMounted, result.fsType, mismatch)
    }

    /// The volume's own mount options, as one string (checked strictly by `MountOptions`).
    static func userMountOptions(_ options: [String]) -> String { options.joined(separator: ",") }

    /// `MS_NODEV | MS_NOSUID` unless the volume asks for `dev` / `suid`: a device node or setuid
    /// file that a workload left on a volume must not work on the node. Applied as flags and
    /// checked on the mount and on every bind (which inherit them), never appended as text
    /// after the volume's options (an unbalanced quote there would swallow them).
    static func requiredMountFlags(_ options: [String]) -> UInt {
        let names = Set(options.flatMap { $0.split(separator: ",") })
        return (names.contains("dev") ? 0 : UInt(MS_NODEV)) | (names.contains("suid") ? 0 : UInt(MS_NOSUID))
    }

    func bind(
        _ global: FilePath, to target: FilePath, readOnly: Bool, requiredFlags: UInt, timings: inout PhaseTimings
    ) throws(VolumeError) {
        _ = try timings.measure("bind") { () throws(VolumeError) in
            try wrap("cannot bind \(global) to \(target)") { () throws(MountError) in
                try mounter.bind(source: global, target: target, readOnly: readOnly, requiredFlags: requiredFlags)
            }
        }
    }

    /// Makes a block volume's device visible at `file`: creates it (an empty regular file, and
    /// its directory) and bind-mounts the device node onto it, read-only when asked. The bind
    /// keeps the device usable (no nodev): the workload's runtime, and kubelet's loop device that
    /// pins a published block volume, open the node through it. A read-only bind does not stop
    /// writes through a device node (the kernel checks a node's mount only for nodev): the
    /// container runtime's device permissions do, and a read-only volume is mapped read-only.
    func bindDeviceNode(_ node: FilePath, to file: FilePath, readOnly: Bool, timings: inout PhaseTimings)
        throws(VolumeError)
    {
        do throws(SyscallError) {
            try Files.makeDirectories(file.removingLastComponent(), mode: 0o750)
            try Files.makeFile(file)
        } catch {
            throw VolumeError(.io, "cannot create \(file) to bind the device \(node) onto", cause: error)
        }
        try bind(node, to: file, readOnly: readOnly, requiredFlags: 0, timings: &timings)
    }

    /// Unmounts and removes the volume at `global`: the mount (filesystem), or the device file
    /// and then the directory (block).
    /// - Returns: whether there was anything to undo.
    @discardableResult
    func cleanupVolume(at global: FilePath, _ access: VolumeAccess) throws(VolumeError) -> Bool {
        let file = access == .block ? try cleanupMountPoint(Self.volumePath(global, .block)) : false
        return try cleanupMountPoint(global) || file
    }

    func applyOwnership(_ target: FilePath, gid: UInt32, timings: inout PhaseTimings) throws(VolumeError) {
        _ = try timings.measure("chown") { () throws(VolumeError) in
            try wrap("cannot give \(target) to group \(gid)") { () throws(MountError) in
                try Ownership.apply(root: target, gid: gid, policy: .onRootMismatch)
            }
        }
    }
}
