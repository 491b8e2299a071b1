// The CSI endpoint: `unix:///path/to/csi.sock`, as the CO passes it in CSI_ENDPOINT.

/// Where the plugin listens: a unix socket path, from a `unix://` URL.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The socket's absolute path.
    public var socketPath: String

    /// The longest path `sockaddr_un.sun_path` holds on Linux (108 bytes with the terminating NUL).
    public static let maximumPathLength = 107

    /// Parses `unix:///abs/path.sock` (also `unix:/abs/path.sock`, which Go's URL parser accepts too).
    ///
    /// The CSI spec allows only unix sockets; a relative path would depend on the plugin's working directory,
    /// which the CO does not know, so it is refused.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` for another scheme, a relative or empty path, a path longer than
    ///   ``maximumPathLength`` bytes (bind(2) would fail with EINVAL), or a NUL byte.
    public init(parsing text: String) throws(CSIError) {
        let lower = text.lowercased()
        let path: Substring
        if lower.hasPrefix("unix://") {
            path = text.dropFirst("unix://".count)
        } else if lower.hasPrefix("unix:") {
            path = text.dropFirst("unix:".count)
        } else {
            throw CSIError(.invalidConfiguration, "endpoint '\(text)': only unix:///path/to/csi.sock is supported")
        }
        guard path.hasPrefix("/") else {
            throw CSIError(.invalidConfiguration, "endpoint '\(text)': the socket path must be absolute (unix:///path)")
        }
        guard path.utf8.count <= Self.maximumPathLength else {
            throw CSIError(
                .invalidConfiguration,
                "endpoint '\(text)': the socket path is \(path.utf8.count) bytes; "
                    + "a unix socket path takes at most \(Self.maximumPathLength)"
            )
        }
        guard !path.utf8.contains(0), path.count > 1 else {
            throw CSIError(.invalidConfiguration, "endpoint '\(text)': not a usable socket path")
        }
        socketPath = String(path)
    }

    /// `unix://<path>`.
    public var description: String { "unix://\(socketPath)" }
}
