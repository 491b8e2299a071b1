// CSIError as a gRPC status: the mapping of codes, and nothing but code and message on the wire.
import GRPCCore

extension CSIError: RPCErrorConvertible {
    /// The gRPC status code for ``code``.
    public var rpcErrorCode: RPCError.Code {
        switch code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition, .invalidConfiguration: .failedPrecondition
        case .aborted: .aborted
        case .outOfRange: .outOfRange
        case .permissionDenied: .permissionDenied
        case .deadlineExceeded: .deadlineExceeded
        case .unimplemented: .unimplemented
        default: .internalError
        }
    }

    /// The message the CO shows to users.
    public var rpcErrorMessage: String { message }

    /// No metadata: the spec wants the status `details` empty, and the message says it all.
    public var rpcErrorMetadata: Metadata { [:] }
}
