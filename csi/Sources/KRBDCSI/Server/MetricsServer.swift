// GET /metrics in Prometheus' text format, on --metrics-address: a plain HTTP/1.1 listener on SwiftNIO (already in
// the process for gRPC). Anything else is 404; nothing but the registry's text is ever sent.
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Serves a Prometheus registry over HTTP.
package struct MetricsServer: Sendable {
    /// What to serve.
    package var registry: PrometheusCollectorRegistry
    /// `host:port`, `:port` (every address) or `[v6]:port`.
    package var address: String

    package init(registry: PrometheusCollectorRegistry, address: String) {
        self.registry = registry
        self.address = address
    }

    /// The host and port of `address`.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` naming the flag.
    package static func parse(_ address: String) throws(CSIError) -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw CSIError(
                .invalidConfiguration, "--metrics-address '\(address)': use host:port, :port or [v6]:port")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// Binds and serves until the channel closes; returns the bound channel (its `localAddress` has the port).
    package func start() async throws(CSIError) -> any Channel {
        let (host, port) = try Self.parse(address)
        let registry = self.registry
        do {
            return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(MetricsHandler(registry: registry))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw CSIError(
                .invalidConfiguration, "cannot listen on --metrics-address \(address): \(error)", cause: error)
        }
    }
}

/// One request at a time per connection: GET /metrics answers the registry's text.
final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        var status = HTTPResponseStatus.ok
        var bytes: [UInt8] = []
        if head.method == .GET && (head.uri == "/metrics" || head.uri.hasPrefix("/metrics?")) {
            registry.emit(into: &bytes)
        } else {
            status = .notFound
            bytes = Array("only GET /metrics is served here\n".utf8)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4" : "text/plain")
        headers.add(name: "Content-Length", value: String(bytes.count))
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
