import BlockMount
import SystemPackage

// The lifecycle's use of BlockMount, with MountError wrapped into VolumeError(.mount).
extension BlockVolumePlugin {
    var mounter: Mounter { Mounter(proc: host.proc) }

    func wrap<R>(_ what: @autoclosure () -> String, _ body: () throws(MountError) -> R) throws(VolumeError) -> R {
        do {
            return try body()
        } catch {
            throw VolumeError(.mount, "\(what()): \(error.message)", path: error.path, underlying: error)
        }
    }

    /// Whether `path` is a mount point; a corrupted mount (ENOTCONN, ESTALE, EIO, …) counts, so
    /// that cleanup unmounts it.
    func isMounted(_ path: FilePath) throws(VolumeError) -> Bool {
        switch try wrap("cannot tell whether \(path) is mounted", { () throws(MountError) in
            try mounter.mountPointStatus(path)
        }) {
        case .mountPoint, .corrupted: return true
        case .missing, .notMountPoint: return false
        }
    }

    /// Unmounts `path` if mounted (corrupted too) and removes its empty directory.
    func cleanupMountPoint(_ path: FilePath) throws(VolumeError) {
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
        device: AttachedDevice<Provider.Identity>, spec: VolumeSpec, at global: FilePath, timings: inout PhaseTimings
    ) throws(VolumeError) -> (formatted: Bool, fsType: String?, mismatch: String?) {
        if case .corrupted = try wrap("cannot inspect \(global)", { () throws(MountError) in
            try mounter.mountPointStatus(global)
        }) {
            try cleanupMountPoint(global)
        }
        let result = try wrap("cannot format and mount \(device.path) for volume \(spec)") { () throws(MountError) in
            try mounter.formatAndMount(
                device: device.path, target: global, fsType: spec.fsType,
                mountOptions: Self.globalMountOptions(spec.mountOptions), readOnly: spec.readOnly)
        }
        timings.record("probe", result.timings.probe)
        if result.outcome == .formattedAndMounted {
            timings.record("mkfs-queue", result.timings.formatQueue)
            timings.record("mkfs", result.timings.format)
        }
        timings.record("mount", result.timings.mount)
        let mismatch = result.isFilesystemMismatch
            ? "device \(device.path) holds \(result.fsType), not \(spec.fsType); mounted as \(result.fsType)" : nil
        return (result.outcome == .formattedAndMounted, result.fsType, mismatch)
    }

    /// The volume's mount options, with `nodev,nosuid` unless the volume asks for `dev`/`suid`:
    /// a device node or setuid file that a workload left on a volume must not work on the node
    /// (the binds inherit both flags, which are locked).
    static func globalMountOptions(_ options: [String]) -> String {
        var all = options
        if !options.contains("dev") && !options.contains("nodev") { all.append("nodev") }
        if !options.contains("suid") && !options.contains("nosuid") { all.append("nosuid") }
        return all.joined(separator: ",")
    }

    func bind(_ global: FilePath, to target: FilePath, readOnly: Bool, timings: inout PhaseTimings) throws(VolumeError) {
        _ = try timings.measure("bind") { () throws(VolumeError) in
            try wrap("cannot bind \(global) to \(target)") { () throws(MountError) in
                try mounter.bind(source: global, target: target, readOnly: readOnly)
            }
        }
    }

    func applyOwnership(_ target: FilePath, gid: UInt32, timings: inout PhaseTimings) throws(VolumeError) {
        _ = try timings.measure("chown") { () throws(VolumeError) in
            try wrap("cannot give \(target) to group \(gid)") { () throws(MountError) in
                try Ownership.apply(root: target, gid: gid, policy: .onRootMismatch)
            }
        }
    }
}
