// Reading mappings back: the ids listed in <sysfs>/bus/rbd/devices, each one's attributes read
// from <sysfs>/devices/rbd/<id>/ (where the bus's symlinks point). A device that vanishes while
// it is read (a concurrent unmap) is skipped, never an error.
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

extension RBDBus {
    /// Every mapped device, by ascending id.
    ///
    /// Lists `<sysfs>/bus/rbd/devices` and reads every attribute of each device (from
    /// `<sysfs>/devices/rbd/<id>/`, where the bus's entries point). No bus (module not
    /// loaded) means no devices.
    ///
    /// - Throws: `RBDError` `.systemError` when the devices directory exists but cannot be listed.
    public func mappedDevices() throws(RBDError) -> [MappedDevice] {
        var devices: [MappedDevice] = []
        for id in try deviceIDs() {
            if let device = try readDevice(id) { devices.append(device) }
        }
        return devices
    }

    /// The first (lowest-id) device that maps `spec`, or `nil`.
    ///
    /// Fast path: reads `name`, then `pool`, `pool_ns` and `current_snap` of each device and
    /// stops at the first attribute that differs; only the match is read in full.
    ///
    /// - Throws: `RBDError` `.systemError` when the devices directory cannot be listed, or the
    ///   devices it lists cannot be read (`<sysfs>/devices/rbd` cannot be opened).
    public func device(for spec: ImageSpec) throws(RBDError) -> MappedDevice? {
        try devices(for: spec).first
    }

    /// Every device that maps `spec` (an image can be mapped more than once), by ascending id.
    ///
    /// - Throws: `RBDError` `.systemError` when the devices directory cannot be listed, or a
    ///   device's identity cannot be read, `<sysfs>/devices/rbd` included (never guessed either
    ///   way).
    public func devices(for spec: ImageSpec) throws(RBDError) -> [MappedDevice] {
        var found: [MappedDevice] = []
        let ids = try deviceIDs()
        guard !ids.isEmpty, let directory = try openDeviceRoot() else { return [] }
        defer { _ = system_close(directory) }
        let identity = Identity(spec)
        for id in ids where try checkedMatches(id, identity, directory: directory) {
            if let device = try readDevice(id) { found.append(device) }
        }
        return found
    }

    /// The device with this id, or `nil` when none is mapped there.
    public func device(id: Int) throws(RBDError) -> MappedDevice? { try readDevice(id) }

    // MARK: Internals

    /// The numeric entries of the devices directory, sorted; empty when there is no bus.
    func deviceIDs() throws(RBDError) -> [Int] {
        do {
            var ids: [Int] = []
            ids.reserveCapacity(32)
            try Files.forEachName(devicesDirectory) { name in
                if let id = decimalValue(name) { ids.append(Int(id)) }
            }
            return ids.sorted()
        } catch {
            if error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory { return [] }
            throw RBDError(
                .systemError, "cannot list rbd devices in \(devicesDirectory)", path: devicesDirectory, cause: error)
        }
    }

    /// `<sysfs>/devices/rbd/<id>/<name>` as a plain string (the lookup path builds no FilePath).
    func attributePath(_ id: Int, _ name: String) -> String {
        deviceRootPrefix + String(id) + "/" + name
    }

    /// One attribute; `nil` when the file is missing or unreadable.
    func attribute(_ id: Int, _ name: String) -> String? {
        try? Files.readAttribute(attributePath(id, name))
    }

    /// Whether attribute `name` of device `id` reads exactly `expected` (compared in place, no
    /// String built); `nil` when it cannot be read. `directory`, when given, is an open fd of
    /// ``deviceRoot``, and the attribute is opened relative to it.
    func attribute(_ id: Int, _ name: String, equals expected: String, directory: CInt?) -> Bool? {
        guard let directory else { return Files.attribute(attributePath(id, name), equals: expected) }
        return Files.attribute(at: directory, String(id) + "/" + name, equals: expected)
    }

    /// Whether device `id` currently maps `identity`, telling "cannot read" apart from "another
    /// image": an attribute that cannot be read (EIO, EACCES, …) throws `.systemError` naming the
    /// device, so that an unknown identity is never taken for a free id (unmap would report
    /// success and leave the device) nor for another image (map would map the image again). A
    /// missing identity attribute means the device is gone: `false`.
    func checkedMatches(_ id: Int, _ identity: Identity, directory: CInt? = nil) throws(RBDError) -> Bool {
        func equals(_ name: String, _ expected: String, missing: Bool) throws(RBDError) -> Bool {
            do throws(SyscallError) {
                return try Files.checkedAttribute(
                    at: directory ?? AT_FDCWD, directory == nil ? attributePath(id, name) : String(id) + "/" + name,
                    equals: expected)
            } catch {
                if error.errno == .noSuchFileOrDirectory || error.errno == .operationNotSupportedByDevice {
                    return missing
                }  // ENODEV: a removed device's attribute
                throw RBDError(
                    .systemError, "cannot read \(name) of rbd\(id) to tell which image it maps; nothing was done to it",
                    path: deviceDirectory(id), cause: error)
            }
        }
        guard try equals("name", identity.image, missing: false), try equals("pool", identity.pool, missing: false)
        else {
            return false
        }
        // pool_ns is missing before 4.19: the default namespace then.
        let namespace = identity.namespace ?? ""
        guard try equals("pool_ns", namespace, missing: namespace.isEmpty) else { return false }
        guard try equals("current_snap", identity.snapshot ?? "-", missing: false) else { return false }
        if let fsid = identity.clusterFSID, !(try equals("cluster_fsid", fsid, missing: true)) { return false }
        if let imageID = identity.imageID, !(try equals("image_id", imageID, missing: true)) { return false }
        return true
    }

    /// Whether device `id` currently maps `identity` (reading as few attributes as possible,
    /// compared in place without building strings).
    /// `directory`, when given, is an open fd of ``deviceRoot``: attributes are then opened by
    /// short relative paths (`<id>/name`).
    func matches(_ id: Int, _ identity: Identity, directory: CInt? = nil) -> Bool {
        func equals(_ name: String, _ expected: String) -> Bool? {
            attribute(id, name, equals: expected, directory: directory)
        }
        guard equals("name", identity.image) == true, equals("pool", identity.pool) == true else { return false }
        // pool_ns is missing before 4.19: the default namespace then.
        let namespace = identity.namespace ?? ""
        guard equals("pool_ns", namespace) ?? namespace.isEmpty else { return false }
        guard equals("current_snap", identity.snapshot ?? "-") == true else { return false }
        func read(_ name: String) -> String? {
            guard let directory else { return attribute(id, name) }
            return try? Files.readAttribute(at: directory, String(id) + "/" + name)
        }
        if let fsid = identity.clusterFSID, let actual = read("cluster_fsid"), actual != fsid { return false }
        if let imageID = identity.imageID, let actual = read("image_id"), actual != imageID { return false }
        return true
    }

    /// Whether device `id` talks to the cluster of `monitorTokens`: without a cluster fsid to
    /// compare, the monitors written in its `config_info` (root only) must overlap the request's,
    /// so that one cluster's `rbd/img` is never handed out for another cluster's. Unreadable
    /// `config_info` (not root) cannot tell: the device counts as the same cluster.
    func sameCluster(_ id: Int, _ monitorTokens: Set<Substring>) -> Bool {
        guard !monitorTokens.isEmpty, let config = attribute(id, "config_info") else { return true }
        let written = config.prefix { $0 != " " }.split(separator: ",")
        return written.contains { monitorTokens.contains($0) }
    }

    /// Every attribute of device `id`; `nil` when it vanished or is not a complete rbd device.
    /// Opens the device's directory once and reads each attribute relative to it.
    func readDevice(_ id: Int) throws(RBDError) -> MappedDevice? {
        let directory = deviceDirectory(id)
        guard let fd = try? Files.openDirectory(directory) else { return nil }
        defer { _ = system_close(fd) }
        func attribute(_ name: String) -> String? { try? Files.readAttribute(at: fd, name) }
        // The identity attributes must all be there; a missing one means the device vanished
        // (or is not set up yet), and it is skipped.
        guard let pool = attribute("pool"), let image = attribute("name"),
            let snap = attribute("current_snap"),
            let major = attribute("major").flatMap({ UInt32($0) }),
            let minor = attribute("minor").flatMap({ UInt32($0) })
        else { return nil }
        let namespace = attribute("pool_ns")
        let snapID = attribute("snap_id").flatMap { UInt64($0) }
        let device = MappedDevice(
            id: id, pool: pool,
            poolID: attribute("pool_id").flatMap { UInt64($0) },
            namespace: (namespace?.isEmpty ?? true) ? nil : namespace,
            image: image,
            imageID: attribute("image_id").flatMap { $0.isEmpty ? nil : $0 },
            snapshot: snap == "-" ? nil : snap,
            snapshotID: snapID == MappedDevice.noSnapshot ? nil : snapID,
            size: attribute("size").flatMap { UInt64($0) },
            device: DeviceNumber(major: major, minor: minor),
            features: attribute("features").flatMap { RBDFeatures(sysfs: $0) },
            clientID: attribute("client_id"),
            clientAddress: attribute("client_addr"),
            clusterFSID: attribute("cluster_fsid"),
            parent: attribute("parent"),
            configInfo: attribute("config_info").map(Self.redactingSecret),
            devicePath: deviceNode(id).string,
            diskSequence: blockAttribute(id, "diskseq").flatMap { UInt64($0) })
        // A device removed between the first and the last read would show mixed data; the
        // directory must still be there after the reads.
        guard Files.exists(directory) else { return nil }
        return device
    }

    /// `text` with every `secret=<value>` replaced by `secret=<redacted>`.
    static func redactingSecret(_ text: String) -> String { redactingSecrets(text) }
}

extension MappedDevice {
    /// Whether `other` describes a mapping of the same image: pool, namespace, image and
    /// snapshot, and cluster fsid and image id where both show them (the rules `map` and
    /// `unmap` check a device by).
    public func isSameImage(as other: MappedDevice) -> Bool { Identity(other).matches(self) }
}

/// What makes a mapping the one that was asked for.
struct Identity: Sendable, Hashable {
    /// Whether `device` (read back from sysfs) is this mapping: the same rules as
    /// `RBDBus.matches` (a namespace or fsid or image id the kernel does not show passes).
    func matches(_ device: MappedDevice) -> Bool {
        device.pool == pool && (device.namespace ?? "") == (namespace ?? "") && device.image == image
            && device.snapshot == snapshot
            && (clusterFSID == nil || device.clusterFSID == nil || device.clusterFSID == clusterFSID)
            && (imageID == nil || device.imageID == nil || device.imageID == imageID)
    }

    var pool: String
    var namespace: String?
    var image: String
    var snapshot: String?
    var clusterFSID: String?
    var imageID: String?

    init(_ spec: ImageSpec, clusterFSID: String? = nil, imageID: String? = nil) {
        pool = spec.pool
        namespace = spec.namespace
        image = spec.image
        snapshot = spec.snapshot
        self.clusterFSID = clusterFSID
        self.imageID = imageID
    }

    init(_ device: MappedDevice) {
        self.init(device.spec, clusterFSID: device.clusterFSID, imageID: device.imageID)
    }
}
