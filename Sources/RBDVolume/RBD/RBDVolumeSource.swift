import KRBD

/// How an attach keeps two nodes from writing one image.
public enum Fencing: String, Sendable, Hashable, Codable {
    /// Read-write maps ask the kernel for the image's exclusive lock and keep it (`exclusive`):
    /// a second node's map then fails with `lockHeld` instead of taking the image over. An
    /// image without the exclusive-lock feature is mapped unfenced, with a warning.
    case exclusiveLock
    /// Like `exclusiveLock`, but an image without the feature is refused.
    case requireExclusiveLock
    /// No fencing (the in-tree plugin's behaviour since Kubernetes 1.9).
    case none
}

/// An rbd image as a volume source: the image, how to reach the cluster, and map options.
public struct RBDVolumeSource: VolumeSource {
    /// The image (or snapshot) to attach.
    public var image: ImageSpec
    /// The cluster's monitors.
    public var monitors: [MonitorAddress]
    /// The cephx user and secret (the secret is never logged nor journaled).
    public var credentials: CephCredentials
    /// Kernel map options; `readOnly` is set from the volume.
    public var options: MapOptions
    /// Fencing for read-write attaches.
    public var fencing: Fencing

    /// Creates a source.
    public init(
        image: ImageSpec, monitors: [MonitorAddress], credentials: CephCredentials, options: MapOptions = MapOptions(),
        fencing: Fencing = .exclusiveLock
    ) {
        self.image = image
        self.monitors = monitors
        self.credentials = credentials
        self.options = options
        self.fencing = fencing
    }

    /// `rbd:<pool>/<image>`: never the credentials.
    public var description: String { "rbd:\(image)" }
}
