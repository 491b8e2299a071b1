// Serving: the unix socket (stale one removed, a non-socket refused), the gRPC server, and a clean stop on
// SIGTERM/SIGINT (stop accepting, let in-flight RPCs finish within a grace period, remove the socket).
import Dispatch
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KRBD
import Logging
import Metrics
import Prometheus
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// The krbd-csi node plugin's server: Identity and Node on the endpoint's unix socket.
public struct PluginServer: Sendable {
    /// What to serve, and where.
    public var options: PluginOptions
    /// Where the per-RPC lines and the lifecycle lines go.
    public var logger: Logger

    /// A server for `options`.
    public init(options: PluginOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Serves until SIGTERM or SIGINT, then drains and returns.
    ///
    /// Creates the socket's directory and the state directory when missing. The socket itself is replaced when a
    /// stale one is there (a previous run killed with SIGKILL leaves it behind), and removed on the way out.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` when the socket path holds something that is not a socket or a
    ///   directory cannot be created; `.internalError` when the transport cannot listen or fails while serving.
    public func run() async throws(CSIError) {
        let path = options.endpoint.socketPath
        try Self.prepareSocketPath(path)
        try Self.makeDirectory(options.stateDirectory, what: "state directory (--state-dir)")

        let log = RPCLog(logger: logger)
        let readiness = RBDReadiness(sysfs: options.sysfs, modulesRoot: options.modulesRoot)
        let maxVolumes = RBDDeviceLimit.maxVolumes(sysfs: options.sysfs)
        if maxVolumes == 0 {
            logger.warning(
                """
                the rbd module is loaded with single_major=N: max_volumes_per_node is left to the CO; \
                reload it with single_major=Y
                """
            )
        }
        if let problem = readiness.problem() {
            // Serve anyway: Probe reports it, and the CO's liveness probe decides (a crash loop would hide why).
            logger.warning("Probe will fail until this is fixed", metadata: ["problem": .string(problem)])
        }
        if let address = options.metricsAddress {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            let channel = try await MetricsServer(registry: registry, address: address).start()
            logger.info(
                "serving metrics",
                metadata: ["address": .string(channel.localAddress.map { "\($0)" } ?? address), "path": "/metrics"])
        }
        let bus = RBDBus(sysfs: FilePath(options.sysfs))
        let volumes = try NodeVolumes(stateDirectory: options.stateDirectory, bus: bus, logger: logger)
        let services: [any RegistrableRPCService] = [
            IdentityService(driverName: options.driverName, readiness: readiness, log: log),
            NodeService(
                nodeID: options.nodeID, maxVolumesPerNode: maxVolumes, clusters: options.clusters, volumes: volumes,
                log: log),
        ]
        let server = GRPCServer(
            transport: .http2NIOPosix(address: .unixDomainSocket(path: path), transportSecurity: .plaintext),
            services: services
        )
        defer { Self.removeSocket(path) }
        do {
            try await serve(server)
        } catch let error as CSIError {
            throw error
        } catch {
            throw CSIError(.internalError, "serving on \(options.endpoint) failed: \(error)", cause: error)
        }
    }

    /// What the child tasks of ``serve(_:)`` report.
    private enum Event: Sendable {
        /// The transport is bound.
        case listening(String)
        /// `serve()` returned: the transport closed and every RPC finished.
        case stopped
        /// SIGTERM or SIGINT.
        case signalled(Int32)
        /// The grace period after the first signal ran out.
        case graceExpired
        /// The signal stream ended (only on the way out).
        case signalsEnded
    }

    private func serve(_ server: GRPCServer<HTTP2ServerTransport.Posix>) async throws {
        let (signals, relay) = AsyncStream.makeStream(of: Int32.self)
        let sources = [SIGTERM, SIGINT].map { number in
            // Dispatch sees the signal only when its default action (terminate) is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { relay.yield(number) }
            source.resume()
            return source
        }
        defer {
            for source in sources { source.cancel() }
            relay.finish()
        }
        // One waiter at a time on the stream: a new one is added only after the previous one returned.
        @Sendable func nextSignal() async -> Event {
            for await number in signals { return .signalled(number) }
            return .signalsEnded
        }
        let grace = options.shutdownGrace
        let logger = self.logger
        let options = self.options
        try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                try await server.serve()
                return .stopped
            }
            group.addTask { .listening(String(describing: try await server.transport.listeningAddress)) }
            group.addTask { await nextSignal() }
            var draining = false
            while let event = try await group.next() {
                switch event {
                case .listening(let address):
                    logger.info(
                        "serving CSI Identity and Node",
                        metadata: [
                            "endpoint": .string(options.endpoint.description), "address": .string(address),
                            "driver": .string(options.driverName), "node_id": .string(options.nodeID),
                            "version": .string(PluginVersion.current),
                        ])
                case .signalled(let number) where !draining:
                    draining = true
                    logger.info(
                        "stopping: no new RPCs; in-flight ones get the grace period",
                        metadata: ["signal": .string(Self.signalName(number)), "grace": "\(grace)"])
                    server.beginGracefulShutdown()
                    group.addTask {
                        try await Task.sleep(for: grace)
                        return .graceExpired
                    }
                    group.addTask { await nextSignal() }
                case .signalled(let number):
                    logger.warning(
                        "second signal: exiting without waiting", metadata: ["signal": .string(Self.signalName(number))]
                    )
                    group.cancelAll()
                    return
                case .graceExpired:
                    logger.warning(
                        "in-flight RPCs did not finish within the grace period; exiting",
                        metadata: ["grace": "\(grace)"])
                    group.cancelAll()
                    return
                case .stopped:
                    logger.info("stopped")
                    group.cancelAll()
                    return
                case .signalsEnded:
                    continue
                }
            }
        }
    }

    private static func signalName(_ number: Int32) -> String {
        number == SIGTERM ? "SIGTERM" : number == SIGINT ? "SIGINT" : "signal \(number)"
    }

    /// Makes the socket's directory, and removes a stale socket; anything else at the path stays and is an error.
    static func prepareSocketPath(_ path: String) throws(CSIError) {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory, what: "socket directory")
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw CSIError(
                .invalidConfiguration,
                "\(path) exists and is not a socket; refusing to replace it (is --endpoint right?)")
        }
        // A second plugin started on the same socket must not take it from the first, which keeps running
        // unreachable otherwise (the transport would unlink any socket file).
        if isServing(path) {
            throw CSIError(
                .invalidConfiguration, "another process is serving on \(path); refusing to take its socket over")
        }
        // Stale from a killed run; the transport would unlink it too, but it would not say so.
        guard unlink(path) == 0 || errno == ENOENT else {
            let reason = String(cString: strerror(errno))
            throw CSIError(.invalidConfiguration, "cannot remove the stale socket \(path): \(reason)")
        }
    }

    /// Whether something accepts connections on the unix socket at `path` (ECONNREFUSED: a stale socket).
    static func isServing(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        // Endpoint keeps paths below sun_path's size, so the zeroed tail terminates it.
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    static func makeDirectory(_ path: String, what: String) throws(CSIError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw CSIError(.invalidConfiguration, "cannot create the \(what) \(path): \(error.localizedDescription)")
        }
    }

    static func removeSocket(_ path: String) {
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
    }
}
