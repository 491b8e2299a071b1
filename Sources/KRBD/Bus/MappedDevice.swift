// One mapping as the kernel reports it under /sys/bus/rbd/devices/<id>/.
import SystemPackage

/// A mapped rbd device and every attribute the kernel shows for it.
///
/// Read from `<sysfs>/bus/rbd/devices/<id>/`; attributes a kernel lacks (or that cannot be
/// read) are `nil`. ``configInfo`` never holds a `secret=` value: it is redacted on read.
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
    /// `major` of the block device.
    public var major: UInt32
    /// `minor` of the block device (`id << 4` with single_major).
    public var minor: UInt32
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
