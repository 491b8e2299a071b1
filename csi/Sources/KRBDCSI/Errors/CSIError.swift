// The one public error of KRBDCSI: what a CSI RPC (or the plugin's startup) answers when it fails.

/// A failure with a CSI status code, a message for people, and the error underneath.
///
/// The CO shows `message` to users (kubectl events), so it names the field, path or volume and the likely fix.
/// The gRPC status carries only the code and the message: the spec requires empty `details`, and `cause` stays
/// in our logs.
public struct CSIError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; each maps to one gRPC status code (see ``CSIError/rpcErrorCode``).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name.
        public var rawValue: String
        /// A code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// A required field is missing or a field has a bad value (INVALID_ARGUMENT).
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// The volume, image or path does not exist (NOT_FOUND).
        public static let notFound = Code(rawValue: "notFound")
        /// Staged or published already, with other arguments (ALREADY_EXISTS).
        public static let alreadyExists = Code(rawValue: "alreadyExists")
        /// The system is not in a state the call needs (FAILED_PRECONDITION), e.g. the rbd module is missing.
        public static let failedPrecondition = Code(rawValue: "failedPrecondition")
        /// Another operation on the same volume is in flight (ABORTED).
        public static let aborted = Code(rawValue: "aborted")
        /// The capacity range cannot be honoured (OUT_OF_RANGE).
        public static let outOfRange = Code(rawValue: "outOfRange")
        /// The credentials do not allow the operation (PERMISSION_DENIED).
        public static let permissionDenied = Code(rawValue: "permissionDenied")
        /// The cluster did not answer in time (DEADLINE_EXCEEDED).
        public static let deadlineExceeded = Code(rawValue: "deadlineExceeded")
        /// The RPC is not implemented (UNIMPLEMENTED); the caller must not retry.
        public static let unimplemented = Code(rawValue: "unimplemented")
        /// A bug or an unexpected system failure (INTERNAL).
        public static let internalError = Code(rawValue: "internalError")
        /// A flag, endpoint or config file the plugin cannot start with (startup only; FAILED_PRECONDITION if
        /// it ever reaches an RPC).
        public static let invalidConfiguration = Code(rawValue: "invalidConfiguration")
    }

    /// What kind of failure this is.
    public var code: Code
    /// One line for people: what failed, on which volume, field or path, and the likely fix.
    public var message: String
    /// The library error or system error underneath, if any (logged, never sent).
    public var cause: (any Error & Sendable)?

    /// An error with a code, a message and an optional cause.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `code: message`, plus the cause when there is one.
    public var description: String {
        guard let cause else { return "\(code): \(message)" }
        return "\(code): \(message) (cause: \(cause))"
    }
}
