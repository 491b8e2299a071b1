// krbd-csi: the CSI node plugin. Flags follow ceph-csi's rbd plugin where they overlap (--endpoint, --nodeid,
// --drivername), so a ceph-csi DaemonSet needs few changes.
import ArgumentParser
import Foundation
import KRBDCSI
import Logging

@main
struct KRBDCSICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "krbd-csi",
        abstract: "CSI node plugin that maps Ceph RBD images through the kernel's rbd bus (no rbd CLI, no librbd).",
        version: PluginVersion.current
    )

    @Option(help: "The CSI endpoint, unix:///path/to/csi.sock (default: $CSI_ENDPOINT).")
    var endpoint: String?

    @Option(
        help: "This node's ID, as kubelet knows the node (usually the node name; the downward API's spec.nodeName).")
    var nodeid: String

    @Option(help: "The CSI driver name (a DNS subdomain; the CSIDriver object's name).")
    var drivername: String = PluginOptions.defaultDriverName

    @Option(help: "ceph-csi's cluster config file (JSON list of clusterID, monitors, rbd.radosNamespace).")
    var clusterConfig: String = ClusterConfig.defaultPath

    @Option(help: "Where per-volume state is kept (default: /var/lib/kubelet/plugins/<drivername>).")
    var stateDir: String?

    @Option(help: "Serve Prometheus metrics at http://<address>/metrics (host:port or :port; default: not served).")
    var metricsAddress: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: .hidden)
    var sysfs: String = "/sys"

    @Option(help: .hidden)
    var modulesRoot: String = "/lib/modules"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level '\(logLevel)': use trace, debug, info, notice, warning, error or critical")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "krbd-csi")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        do {
            let server = try PluginServer(options: options(), logger: logger)
            try await server.run()
        } catch {
            // One line on stderr and a stable exit code: 2 for a bad flag or file, 1 for a failure while serving.
            FileHandle.standardError.write(Data("krbd-csi: \(error.message)\n".utf8))
            throw ExitCode(error.code == .invalidConfiguration ? 2 : 1)
        }
    }

    /// The flags as validated options; the config file is parsed here, before anything listens.
    private func options() throws(CSIError) -> PluginOptions {
        guard let text = endpoint ?? ProcessInfo.processInfo.environment["CSI_ENDPOINT"], !text.isEmpty else {
            throw CSIError(
                .invalidConfiguration, "no endpoint: pass --endpoint unix:///path/csi.sock or set CSI_ENDPOINT")
        }
        var options = try PluginOptions(
            endpoint: Endpoint(parsing: text), nodeID: nodeid, driverName: drivername,
            clusters: ClusterConfig.load(path: clusterConfig),
            stateDirectory: stateDir ?? PluginOptions.defaultStateDirectory(driverName: drivername))
        options.sysfs = sysfs
        options.metricsAddress = metricsAddress
        options.modulesRoot = modulesRoot
        return options
    }
}
