// One structured log line per RPC: method, volume, gRPC code, duration, and the redacted request.
import GRPCCore
import Logging

/// Runs RPC handlers: checks the request, times the handler, maps its error to a gRPC status, logs one line.
package struct RPCLog: Sendable {
    /// Where the lines go.
    package var logger: Logger

    /// A runner logging to `logger`.
    package init(logger: Logger) {
        self.logger = logger
    }

    /// Validates `request`, runs `body`, and logs
    /// `rpc method=… volume_id=… code=… duration_ms=… request={…}` (plus `error=` when it failed).
    ///
    /// - Parameters:
    ///   - request: the request; logged only through ``CSIRequest/logDescription`` (secrets redacted).
    ///   - quiet: log a success at debug instead of info (Probe: the liveness probe calls it every few seconds).
    ///   - body: the handler proper, called only when the request passed ``CSIRequest/validate()``.
    /// - Throws: `RPCError`: the handler's ``CSIError`` mapped to its code, an `RPCError` as is, anything else as
    ///   INTERNAL (with the error's description as the message).
    package func run<Request: CSIRequest, Response: Sendable>(
        _ request: Request, quiet: Bool = false, _ body: () async throws -> Response
    ) async throws(RPCError) -> Response {
        let start = ContinuousClock.now
        let outcome: Result<Response, RPCError>
        var cause: String?
        do {
            try request.validate()
            outcome = .success(try await body())
        } catch let error as CSIError {
            cause = error.cause.map { String(describing: $0) }
            outcome = .failure(RPCError(error))
        } catch let error as RPCError {
            outcome = .failure(error)
        } catch {
            cause = String(describing: error)
            outcome = .failure(RPCError(code: .internalError, message: "\(Request.rpcName): \(error)"))
        }
        let elapsed = ContinuousClock.now - start
        PluginMetrics.rpc(method: Request.rpcName, code: Self.codeName(outcome), duration: elapsed)
        var metadata: Logger.Metadata = [
            "method": .string(Request.rpcName),
            "code": .string(Self.codeName(outcome)),
            "duration_ms": .string(Self.milliseconds(elapsed)),
            "request": .string(request.logDescription),
        ]
        if !request.logVolumeID.isEmpty { metadata["volume_id"] = .string(request.logVolumeID) }
        switch outcome {
        case .success(let response):
            logger.log(level: quiet ? .debug : .info, "rpc", metadata: metadata)
            return response
        case .failure(let error):
            metadata["error"] = .string(error.message)
            if let cause { metadata["cause"] = .string(cause) }
            // A caller's mistake or a missing feature is not the plugin's failure.
            let level: Logger.Level =
                switch error.code {
                case .invalidArgument, .unimplemented, .notFound, .alreadyExists, .aborted: .info
                default: .error
                }
            logger.log(level: level, "rpc", metadata: metadata)
            throw error
        }
    }

    /// The spec's spelling of a status code: `OK`, `INVALID_ARGUMENT`, ….
    package static func codeName(_ outcome: Result<some Any, RPCError>) -> String {
        guard case .failure(let error) = outcome else { return "OK" }
        return codeName(error.code)
    }

    /// The spec's spelling of a gRPC code.
    package static func codeName(_ code: RPCError.Code) -> String {
        switch code {
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internalError: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        default: "CODE_\(code.rawValue)"
        }
    }

    /// Milliseconds with three decimals: most of these RPCs take well under one.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        let whole = micros / 1000
        let fraction = micros % 1000
        return "\(whole)." + String(repeating: "0", count: 3 - String(fraction).count) + String(fraction)
    }
}
