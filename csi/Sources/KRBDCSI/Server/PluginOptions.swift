// Everything the plugin runs with, validated before the socket is bound.

/// The node plugin's settings, from the command line (see the `krbd-csi` executable).
public struct PluginOptions: Sendable {
    /// The default driver name: a DNS subdomain, as CSIDriver objects and GetPluginInfo need.
    public static let defaultDriverName = "rbd.krbd.dev"

    /// Where to listen.
    public var endpoint: Endpoint
    /// This node's ID, as NodeGetInfo reports it (kubelet stores it in the CSINode object).
    public var nodeID: String
    /// The CSI driver name (GetPluginInfo's `name`; the CSIDriver object's name).
    public var driverName: String
    /// The clusters volumes may come from.
    public var clusters: ClusterConfig
    /// Where the plugin keeps per-volume state across restarts.
    public var stateDirectory: String
    /// The sysfs root (`/sys`); tests point it at a fixture tree.
    public var sysfs: String = "/sys"
    /// Where kernel modules live (`/lib/modules`), to tell whether the rbd module can be loaded.
    public var modulesRoot: String = "/lib/modules"
    /// Where to serve Prometheus metrics (`host:port`, `:port`); `nil`: not served.
    public var metricsAddress: String?
    /// How long in-flight RPCs may run after SIGTERM before the plugin exits anyway.
    public var shutdownGrace: Duration = .seconds(10)

    /// Validated options.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` when ``validateDriverName(_:)`` or ``validateNodeID(_:)`` refuse.
    public init(
        endpoint: Endpoint, nodeID: String, driverName: String = PluginOptions.defaultDriverName,
        clusters: ClusterConfig, stateDirectory: String
    ) throws(CSIError) {
        try Self.validateDriverName(driverName)
        try Self.validateNodeID(nodeID)
        self.endpoint = endpoint
        self.nodeID = nodeID
        self.driverName = driverName
        self.clusters = clusters
        self.stateDirectory = stateDirectory
    }

    /// The default state directory for a driver: `/var/lib/kubelet/plugins/<driverName>`.
    public static func defaultStateDirectory(driverName: String) -> String {
        "/var/lib/kubelet/plugins/\(driverName)"
    }

    /// Checks a driver name as the spec's GetPluginInfo wants it: at most 63 characters, alphanumerics, `-` and `.`,
    /// beginning and ending with an alphanumeric.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` naming what is wrong.
    public static func validateDriverName(_ name: String) throws(CSIError) {
        func fail(_ why: String) -> CSIError {
            CSIError(.invalidConfiguration, "driver name '\(name)': \(why)")
        }
        guard !name.isEmpty else { throw fail("empty") }
        guard name.utf8.count <= 63 else { throw fail("\(name.utf8.count) characters; at most 63") }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        }
        let bytes = Array(name.utf8)
        guard bytes.allSatisfy({ alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else {
            throw fail("only letters, digits, '-' and '.' are allowed")
        }
        guard alphanumeric(bytes[0]), alphanumeric(bytes[bytes.count - 1]) else {
            throw fail("must begin and end with a letter or digit")
        }
    }

    /// Checks a node ID: non-empty, at most 256 bytes (the spec's limit for `node_id`), no control characters.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` naming what is wrong.
    public static func validateNodeID(_ id: String) throws(CSIError) {
        guard !id.isEmpty else { throw CSIError(.invalidConfiguration, "--nodeid is empty") }
        guard id.utf8.count <= 256 else {
            throw CSIError(.invalidConfiguration, "--nodeid is \(id.utf8.count) bytes; CSI allows at most 256")
        }
        guard !id.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw CSIError(.invalidConfiguration, "--nodeid contains a control character")
        }
    }
}
