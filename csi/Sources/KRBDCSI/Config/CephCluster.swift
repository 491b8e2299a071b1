// One entry of ceph-csi's config.json, validated.
import KRBD

/// A Ceph cluster the node plugin can map images from: what `clusterID` in a volume's context stands for.
public struct CephCluster: Sendable, Hashable {
    /// The `clusterID` that volume contexts and volume IDs refer to.
    public var id: String
    /// The monitors, as the kernel takes them: IP addresses (``ClusterConfig/parse(_:source:)`` refuses hostnames).
    public var monitors: [MonitorAddress]
    /// The RADOS namespace images of this cluster live in; empty for the pool's default namespace.
    public var radosNamespace: String

    /// A cluster entry.
    public init(id: String, monitors: [MonitorAddress], radosNamespace: String = "") {
        self.id = id
        self.monitors = monitors
        self.radosNamespace = radosNamespace
    }
}
