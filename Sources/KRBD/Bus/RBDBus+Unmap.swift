// unmap: re-check the id's identity right before writing (ids are reused, lowest free first),
// one write of `<id>` or `<id> force`; "not mapped" is success; EBUSY is retried briefly
// (udev's blkid probe right after a map) and then reported with the device's holders.
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// What an unmap did.
public enum UnmapOutcome: String, Sendable, Hashable, Codable {
    /// The device was removed.
    case removed
    /// Nothing to do: the id is free, or now maps another image (which was left alone).
    case notMapped
}

extension RBDBus {
    /// Removes `device` from the host, if the id still maps the same image.
    ///
    /// Under the image's lock, re-reads the identity of device `<id>` (pool,
    /// namespace, image, snapshot, image id, fsid): if the id is free or now maps something
    /// else, nothing is written and the result is `.notMapped`. Otherwise writes `<id>` (or
    /// `<id> force`) once to `remove_single_major` (`remove` where single_major is off); the
    /// kernel's ENOENT means not mapped; EBUSY is retried for ``busyRetryWindow``.
    ///
    /// - Parameters:
    ///   - device: the mapping to remove, as ``mappedDevices()`` or a map gave it.
    ///   - force: `force`: remove even while the device is open (I/O then fails).
    /// - Throws: `RBDError` `.busy` (naming holders, mounts and processes), `.permissionDenied`,
    ///   `.moduleUnavailable`, `.timedOut` (the image's lock), `.systemError`.
    @discardableResult
    public func unmap(_ device: MappedDevice, force: Bool = false) throws(RBDError) -> UnmapOutcome {
        try locked(device.spec, "unmap \(device)") { () throws(RBDError) -> UnmapOutcome in
            // Attributes are opened relative to the devices' directory (shorter path walks).
            let directory = try openDeviceRoot()
            defer { if let directory { _ = system_close(directory) } }
            // Unreadable is not "gone": checkedMatches throws, and nothing is written.
            guard try checkedMatches(device.id, Identity(device), directory: directory) else { return .notMapped }
            return try remove(device.id, force: force, label: "\(device)")
        }
    }

    /// Removes every mapping of `spec`; returns the devices removed (empty when none was mapped).
    ///
    /// - Throws: as ``unmap(_:force:)-(MappedDevice,_)``, at the first device that cannot be removed.
    @discardableResult
    public func unmap(_ spec: ImageSpec, force: Bool = false) throws(RBDError) -> [MappedDevice] {
        try locked(spec, "unmap \(spec)") { () throws(RBDError) -> [MappedDevice] in
            var removed: [MappedDevice] = []
            // devices(for:) matched each one under this same lock: no second check needed.
            for device in try devices(for: spec) {
                if try remove(device.id, force: force, label: "\(device)") == .removed { removed.append(device) }
            }
            return removed
        }
    }

    /// One remove write, EBUSY retried within the window. Called under the image's lock.
    private func remove(_ id: Int, force: Bool, label: String) throws(RBDError) -> UnmapOutcome {
        let command = Array((force ? "\(id) force" : "\(id)").utf8)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: busyRetryWindow)
        var pause = 50_000  // microseconds
        while true {
            do {
                try writeControl("remove", command)
                return .removed
            } catch {
                if error.syscall != "write" { throw controlOpenError(error, "unmap \(label)") }
                switch error.errno {
                case .noSuchFileOrDirectory:
                    return .notMapped
                case .resourceBusy where clock.now < deadline:
                    system_usleep(UInt32(pause))
                    pause = min(pause * 2, 200_000)
                    continue
                case .resourceBusy:
                    let holders = holders(of: id)
                    let detail =
                        holders.isEmpty
                        ? "nothing visible holds it (another mount namespace?)" : holders.joined(separator: "; ")
                    throw RBDError(
                        .busy,
                        "\(label) is busy: \(detail); unmount or close it, or unmap with force (I/O in flight then fails)",
                        path: deviceNode(id), cause: error)
                case .notPermitted:
                    throw RBDError(
                        .permissionDenied, "unmap \(label) needs CAP_SYS_ADMIN in the initial user namespace",
                        path: deviceNode(id), cause: error)
                case .nowInProgress:
                    throw RBDError(
                        .busy, "another remove of \(label) is in progress", path: deviceNode(id), cause: error)
                default:
                    throw RBDError(
                        .systemError, "the kernel refused to unmap \(label)", path: deviceNode(id), cause: error)
                }
            }
        }
    }

    /// What holds `rbd<id>`: stacked devices, mounts (of it or its partitions), processes.
    func holders(of id: Int) -> [String] {
        var out: [String] = []
        let names = (try? Files.list(sysfs.appending("block/rbd\(id)/holders"))) ?? []
        if !names.isEmpty { out.append("held by " + names.sorted().joined(separator: ", ")) }
        if let major = attribute(id, "major").flatMap({ UInt32($0) }),
            let minor = attribute(id, "minor").flatMap({ UInt32($0) }),
            let mountinfo = try? Files.readText(proc.appending("self/mountinfo"))
        {
            let points = Self.mountPoints(in: mountinfo, of: DeviceNumber(major: major, minor: minor), partitions: 15)
            if !points.isEmpty { out.append("mounted at " + points.joined(separator: ", ")) }
        }
        let pids = openers(of: deviceNode(id))
        if !pids.isEmpty { out.append("open by pid " + pids.map(String.init).joined(separator: ", ")) }
        return out
    }

    /// The mount points (unescaped) in mountinfo text of `device` and of the `partitions` minors
    /// after it (its partitions).
    static func mountPoints(in mountinfo: String, of device: DeviceNumber, partitions: UInt32) -> [String] {
        var points: [String] = []
        let minors = device.minor...(device.minor + partitions)
        MountInfo.forEachLine(Array(mountinfo.utf8)) { line in
            if line.device.major == device.major, minors.contains(line.device.minor) {
                points.append(MountInfo.unescape(line.target))
            }
        }
        return points
    }

    /// PIDs with an fd on `node` (the bounded scan of `processesHolding`).
    func openers(of node: FilePath) -> [Int] {
        let node = node.string
        return processesHolding(proc: proc, links: ["fd"]) { resolved, _ in resolved == node }.map { Int($0.pid) }
            .sorted()
    }
}
