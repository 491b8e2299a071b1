// One mapping as the kernel reports it under /sys/devices/rbd/<id>/ (where /sys/bus/rbd/devices/<id>
// points).
import LinuxSystem
import SystemPackage

/// A device number (`major:minor`), as ``MappedDevice/device``; the same type as BlockMount's and
/// RBDVolume's `DeviceNumber`.
public typealias DeviceNumber = LinuxSystem.DeviceNumber

/// A mapped rbd device and every attribute the kernel shows for it.
///
/// Read from `<sysfs>/devices/rbd/<id>/` (where `<sysfs>/bus/rbd/devices/<id>` points);
/// attributes a kernel lacks (or that cannot be read) are `nil`. ``configInfo`` never holds a
/// `secret=` value: it is redacted on read.
public struct MappedDevice: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The device id: the `N` of `rbdN`.
    public var id: Int
    /// `pool`.
    public var pool: String
    /// `pool_id`.
    public var poolID: UInt64?
    /// `pool_ns`; `nil` for the default namespace (the kernel shows an empty line).
    public var namespace: String?
    /// `name`: the image name.
    public var image: String
    /// `image_id`.
    public var imageID: String?
    /// `current_snap`; `nil` for the head (the kernel shows `-`).
    public var snapshot: String?
    /// `snap_id`; `nil` for the head (the kernel shows 18446744073709551614, CEPH_NOSNAP).
    public var snapshotID: UInt64?
    /// `size` in bytes.
    public var size: UInt64?
    /// The block device's number: `major` and `minor` (`id << 4` with single_major).
    public var device: DeviceNumber
    /// `features` of the mapped image.
    public var features: RBDFeatures?
    /// `client_id`, e.g. `client4104`.
    public var clientID: String?
    /// `client_addr`, e.g. `127.0.0.1:0/685188785` (what a fence would blocklist).
    public var clientAddress: String?
    /// `cluster_fsid`.
    public var clusterFSID: String?
    /// `parent`, raw text (`(no parent image)` when there is none).
    public var parent: String?
    /// `config_info` (root only): the add request, with any `secret=` value redacted.
    public var configInfo: String?
    /// The block device node, `<dev>/rbd<id>`.
    public var devicePath: String
    /// `<sysfs>/block/rbd<id>/diskseq` (5.15+): a number the kernel gives each disk it creates
    /// and never again, so two reads with equal values saw one mapping, never unmapped between
    /// them (ids are reused; a sequence number is not). `nil` on older kernels.
    public var diskSequence: UInt64?

    /// The image or snapshot this device maps.
    public var spec: ImageSpec {
        ImageSpec(trusted: pool, namespace: namespace, image: image, snapshot: snapshot)
    }

    /// ``devicePath`` as a `FilePath`.
    public var path: FilePath { FilePath(devicePath) }

    /// Whether this device maps a snapshot (and so is read-only).
    public var isSnapshot: Bool { snapshot != nil }

    /// `/dev/rbdN (pool/ns/image@snap)`.
    public var description: String { "\(devicePath) (\(spec))" }

    /// CEPH_NOSNAP: the snap id sysfs shows for a head mapping.
    static let noSnapshot: UInt64 = 18_446_744_073_709_551_614
}

extension MappedDevice {
    /// The JSON keys: the property names, with ``device`` as `major` and `minor` side by side (as
    /// journal records of earlier builds hold it, and `krbd map --json` prints it).
    enum CodingKeys: String, CodingKey {
        case id, pool, poolID, namespace, image, imageID, snapshot, snapshotID, size, major, minor, features
        case clientID, clientAddress, clusterFSID, parent, configInfo, devicePath, diskSequence
    }

    /// Decodes a device from the keys of ``encode(to:)`` (journal records of every build).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int.self, forKey: .id)
        pool = try c.decode(String.self, forKey: .pool)
        poolID = try c.decodeIfPresent(UInt64.self, forKey: .poolID)
        namespace = try c.decodeIfPresent(String.self, forKey: .namespace)
        image = try c.decode(String.self, forKey: .image)
        imageID = try c.decodeIfPresent(String.self, forKey: .imageID)
        snapshot = try c.decodeIfPresent(String.self, forKey: .snapshot)
        snapshotID = try c.decodeIfPresent(UInt64.self, forKey: .snapshotID)
        size = try c.decodeIfPresent(UInt64.self, forKey: .size)
        device = try c.decode(DeviceNumber.self, major: .major, minor: .minor)
        features = try c.decodeIfPresent(RBDFeatures.self, forKey: .features)
        clientID = try c.decodeIfPresent(String.self, forKey: .clientID)
        clientAddress = try c.decodeIfPresent(String.self, forKey: .clientAddress)
        clusterFSID = try c.decodeIfPresent(String.self, forKey: .clusterFSID)
        parent = try c.decodeIfPresent(String.self, forKey: .parent)
        configInfo = try c.decodeIfPresent(String.self, forKey: .configInfo)
        devicePath = try c.decode(String.self, forKey: .devicePath)
        diskSequence = try c.decodeIfPresent(UInt64.self, forKey: .diskSequence)
    }

    /// Encodes every property under its name, absent ones left out, and ``device`` as `major`
    /// and `minor`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(pool, forKey: .pool)
        try c.encodeIfPresent(poolID, forKey: .poolID)
        try c.encodeIfPresent(namespace, forKey: .namespace)
        try c.encode(image, forKey: .image)
        try c.encodeIfPresent(imageID, forKey: .imageID)
        try c.encodeIfPresent(snapshot, forKey: .snapshot)
        try c.encodeIfPresent(snapshotID, forKey: .snapshotID)
        try c.encodeIfPresent(size, forKey: .size)
        try c.encode(device, major: .major, minor: .minor)
        try c.encodeIfPresent(features, forKey: .features)
        try c.encodeIfPresent(clientID, forKey: .clientID)
        try c.encodeIfPresent(clientAddress, forKey: .clientAddress)
        try c.encodeIfPresent(clusterFSID, forKey: .clusterFSID)
        try c.encodeIfPresent(parent, forKey: .parent)
        try c.encodeIfPresent(configInfo, forKey: .configInfo)
        try c.encode(devicePath, forKey: .devicePath)
        try c.encodeIfPresent(diskSequence, forKey: .diskSequence)
    }
}

/// Image feature bits (`features`, `supported_features`), from ceph's `rbd/features.h`.
public struct RBDFeatures: OptionSet, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The feature bits, as sysfs shows them.
    public var rawValue: UInt64
    /// Features from their bits.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Clones (format 2, kernel 3.10).
    public static let layering = RBDFeatures(rawValue: 1 << 0)
    /// "Fancy" striping (kernel 4.17).
    public static let stripingV2 = RBDFeatures(rawValue: 1 << 1)
    /// The exclusive lock (kernel 4.9).
    public static let exclusiveLock = RBDFeatures(rawValue: 1 << 2)
    /// The object map (kernel 5.3).
    public static let objectMap = RBDFeatures(rawValue: 1 << 3)
    /// Fast diff (kernel 5.3).
    public static let fastDiff = RBDFeatures(rawValue: 1 << 4)
    /// Deep flatten (kernel 5.1).
    public static let deepFlatten = RBDFeatures(rawValue: 1 << 5)
    /// Journaling (never supported by krbd; maps read-only only).
    public static let journaling = RBDFeatures(rawValue: 1 << 6)
    /// A separate data pool (kernel 4.11).
    public static let dataPool = RBDFeatures(rawValue: 1 << 7)
    /// Operations (kernel 4.11).
    public static let operations = RBDFeatures(rawValue: 1 << 8)
    /// Live migration in progress (never supported by krbd).
    public static let migrating = RBDFeatures(rawValue: 1 << 9)
    /// A non-primary mirror image.
    public static let nonPrimary = RBDFeatures(rawValue: 1 << 10)

    /// Each feature's name as `rbd info` prints it and `rbd create --image-feature` takes it.
    static let nameTable: [(RBDFeatures, String)] = [
        (.layering, "layering"), (.stripingV2, "striping"), (.exclusiveLock, "exclusive-lock"),
        (.objectMap, "object-map"), (.fastDiff, "fast-diff"), (.deepFlatten, "deep-flatten"),
        (.journaling, "journaling"), (.dataPool, "data-pool"), (.operations, "operations"),
        (.migrating, "migrating"), (.nonPrimary, "non-primary"),
    ]

    /// The feature names as `rbd info` prints them; unknown bits as `0x…`.
    public var names: [String] {
        var left = rawValue
        var out: [String] = []
        for (feature, name) in Self.nameTable where contains(feature) {
            out.append(name)
            left &= ~feature.rawValue
        }
        if left != 0 { out.append("0x" + String(left, radix: 16)) }
        return out
    }

    /// `layering, exclusive-lock, …`.
    public var description: String { names.isEmpty ? "(none)" : names.joined(separator: ", ") }

    /// Parses `0x%016x` (or decimal) as sysfs shows it.
    init?(sysfs text: String) {
        let trimmed = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
        guard let value = UInt64(trimmed, radix: text.hasPrefix("0x") ? 16 : 10) else { return nil }
        self.init(rawValue: value)
    }
}
