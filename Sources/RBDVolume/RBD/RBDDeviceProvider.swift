import KRBD
import Logging
import SystemPackage

/// The rbd plugin: `BlockVolumePlugin` over the kernel's rbd bus, registered as
/// `kubernetes.io/rbd`.
public typealias RBDPlugin = BlockVolumePlugin<RBDDeviceProvider>

extension BlockVolumePlugin where Provider == RBDDeviceProvider {
    /// The rbd plugin on `bus` (the real `/sys` and `/dev` by default).
    public convenience init(
        bus: RBDBus = RBDBus(), logger: Logger = Logger(label: "krbd.rbd"), lockTimeout: Duration = .seconds(120)
    ) {
        self.init(
            name: "kubernetes.io/rbd", provider: RBDDeviceProvider(bus: bus, logger: logger), lockTimeout: lockTimeout)
    }
}

/// Maps, finds and unmaps rbd images for `BlockVolumePlugin` through `KRBD.RBDBus`.
public struct RBDDeviceProvider: BlockDeviceProvider {
    /// The rbd bus.
    public var bus: RBDBus
    /// Where fencing warnings go.
    public var logger: Logger

    /// Creates a provider on `bus`.
    public init(bus: RBDBus = RBDBus(), logger: Logger = Logger(label: "krbd.rbd")) {
        self.bus = bus
        self.logger = logger
    }

    /// `<pool>[-ns-<ns>]-image-<image>[@<snap>]`, reversible (see `VolumeDirectoryName`).
    public func volumeKey(_ source: RBDVolumeSource) -> String {
        let spec = source.image
        return VolumeDirectoryName.encode(
            pool: spec.pool, namespace: spec.namespace, image: spec.image, snapshot: spec.snapshot)
    }

    /// Checks the image, monitors, credentials and the map options attach would use, writing nothing.
    public func validate(_ source: RBDVolumeSource) throws(RBDError) {
        try bus.validate(
            source.image, monitors: source.monitors, credentials: source.credentials,
            options: mapOptions(source, readOnly: false).options)
        try bus.validate(
            source.image, monitors: source.monitors, credentials: source.credentials,
            options: mapOptions(source, readOnly: true).options)
    }

    /// The existing mapping of the image (identity-exact: pool, namespace, image, snapshot, and
    /// the cluster fsid when the options name it), whatever its mode or options: what a detach
    /// without a journal record removes.
    public func existingDevice(_ source: RBDVolumeSource, readOnly: Bool) throws(RBDError)
        -> AttachedDevice<MappedDevice>?
    {
        let fsid = source.options.clusterFSID?.lowercased()
        let found = try bus.devices(for: source.image).first { fsid == nil || $0.clusterFSID?.lowercased() == fsid }
        return found.map { attached($0, newly: false) }
    }

    /// The mappings of the image whose volume key is `key` (`VolumeDirectoryName`).
    public func attachedDevices(forKey key: String) throws(RBDError) -> [AttachedDevice<MappedDevice>] {
        guard let parts = VolumeDirectoryName.decode(key),
            let spec = try? ImageSpec(
                pool: parts.pool, namespace: parts.namespace, image: parts.image, snapshot: parts.snapshot)
        else { return [] }
        return try bus.devices(for: spec).map { attached($0, newly: false) }
    }

    /// The map options of an attach: read-only at device level for read-only volumes and
    /// snapshots; read-write maps fenced with the kernel's exclusive lock as `source.fencing` says.
    func mapOptions(_ source: RBDVolumeSource, readOnly: Bool) -> (options: MapOptions, fenced: Bool) {
        var options = source.options
        options.readOnly = options.readOnly || readOnly || source.image.snapshot != nil
        let fence = !options.readOnly && source.fencing != .none
        if fence {
            options.exclusive = true
            // lock_timeout 0 (the kernel's default) waits forever for a live peer that does not
            // answer, holding the image's map lock; bound it. With `exclusive` the lock is held
            // for the mapping's life, so this never times out I/O.
            if options.lockTimeout == nil { options.lockTimeout = options.mountTimeout ?? 30 }
        }
        return (options, fence)
    }

    /// Maps the image, or returns its existing mapping when that is exactly what this map would
    /// make (`RBDBus.map` with `.reuse`: same credentials, mode and options, `exclusive`
    /// included); a conflicting mapping is refused with `.alreadyMapped` naming the difference.
    public func attach(_ source: RBDVolumeSource, readOnly: Bool) throws(RBDError) -> AttachedDevice<MappedDevice> {
        let (options, fence) = mapOptions(source, readOnly: readOnly)
        let first: MapResult
        do {
            first = try bus.map(
                source.image, monitors: source.monitors, credentials: source.credentials, options: options)
        } catch {
            // `exclusive` is refused (EINVAL) for an image without the exclusive-lock feature, and
            // an unfenced mapping of ours of such an image conflicts with an `exclusive` request:
            // both may be an image that cannot be fenced, which `exclusiveLock` maps unfenced.
            let unfencedCandidate = (error.code == .invalidOption && error.errno != nil) || error.code == .alreadyMapped
            guard fence, source.fencing == .exclusiveLock, unfencedCandidate else { throw error }
            return try mapUnfenced(source, options, after: error)
        }
        return attached(first.device, newly: first.newlyMapped)
    }

    /// The kernel refuses `exclusive` (EINVAL) on images without the exclusive-lock feature;
    /// such an image cannot be fenced by the kernel. Map it unfenced (or adopt such a mapping),
    /// loudly; an image that has the feature after all gets `error`, and a mapping this call
    /// made for it is removed again.
    private func mapUnfenced(_ source: RBDVolumeSource, _ options: MapOptions, after original: RBDError)
        throws(RBDError)
        -> AttachedDevice<MappedDevice>
    {
        var options = options
        options.exclusive = false
        if source.options.lockTimeout == nil { options.lockTimeout = nil }  // set only for the fence
        let result: MapResult
        do {
            result = try bus.map(
                source.image, monitors: source.monitors, credentials: source.credentials, options: options)
        } catch {
            // The fenced request's difference is the one to report.
            throw error.code == .alreadyMapped ? original : error
        }
        if result.device.features?.contains(.exclusiveLock) == true {
            // EINVAL had another cause, or the existing mapping is an unfenced one of an image
            // that can be fenced: do not keep (or hand out) an unfenced mapping. Nothing is
            // mounted on one made here, so force is safe; never touch one this call did not make.
            if result.newlyMapped {
                do {
                    _ = try bus.unmap(result.device, force: true)
                } catch {
                    var failure = RBDError(
                        original.code,
                        "\(original.message); and the unfenced retry mapping \(result.device.devicePath) "
                            + "could not be removed: \(error.message)", path: original.path, cause: original.cause)
                    // It may still be there: attach keeps its `attaching` record, so status,
                    // reconcile and detach still know of it.
                    failure.mayHaveLeftMapping = true
                    throw failure
                }
            }
            throw original
        }
        logger.warning(
            "image has no exclusive-lock feature: mapped without fencing; another node could write it too",
            metadata: ["image": "\(source.image)", "device": "\(result.device.devicePath)"])
        return attached(result.device, newly: result.newlyMapped)
    }

    /// Whether device `identity.id` still holds exactly the recorded image.
    public func isAttached(_ identity: MappedDevice) throws(RBDError) -> Bool {
        guard let now = try bus.device(id: identity.id) else { return false }
        return now.isSameImage(as: identity)
    }

    /// Unmaps the recorded device (the bus re-checks its identity first; a device that is gone,
    /// or whose id now holds another image, is left alone and counts as success).
    public func detach(_ identity: MappedDevice) throws(RBDError) {
        _ = try bus.unmap(identity)
    }

    private func attached(_ device: MappedDevice, newly: Bool) -> AttachedDevice<MappedDevice> {
        var identity = device
        identity.configInfo = nil  // the journal keeps identity only
        return AttachedDevice(
            path: device.path, device: device.device, identity: identity, newlyAttached: newly)
    }
}

extension RBDError: DeviceProviderFailure {
    /// KRBD's `RBDError.mayHaveLeftMapping`: the failed map may have left a mapping behind.
    public var mayHaveLeftDevice: Bool { mayHaveLeftMapping }

    /// ``VolumeError/Cause/rbd(_:)`` with this error.
    public var volumeCause: VolumeError.Cause { .rbd(self) }
}
