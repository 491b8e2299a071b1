// The add request: `<mons> <options> <pool> <image> [<snap>]`, one line, one write(2).
import LinuxSystem

/// One add request, ready to write. Its text may hold a secret (`.secretInRequest`), so it
/// prints as a redacted string.
struct MapRequest: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The bytes for `add_single_major`.
    let text: String
    /// Whether the key goes through the kernel keyring (`key=client.<user>`).
    let usesKeyring: Bool

    /// The monitor addresses exactly as written (the request's first token, split on commas).
    var monitorTokens: [Substring] {
        text.prefix { $0 != " " }.split(separator: ",")
    }

    /// The kernel's limit for one sysfs write is a page; the request must be shorter.
    static let maximumLength = 4095

    /// Builds and checks the request.
    ///
    /// - Throws: `RBDError` `.invalidMonitor` (no monitors, or none with a port for the
    ///   ms_mode), `.invalidOption` (namespace on a kernel before 4.19, request too long).
    init(
        spec: ImageSpec, monitors: [MonitorAddress], credentials: CephCredentials, options: MapOptions,
        kernel: KernelVersion?, secretInRequest: Bool
    ) throws(RBDError) {
        guard !monitors.isEmpty else {
            throw RBDError(.invalidMonitor, "no monitor address given for \(spec) (use --mon or mon_host in ceph.conf)")
        }
        guard monitors.count <= MonitorAddress.maximumCount else {
            throw RBDError(
                .invalidMonitor,
                "\(monitors.count) monitors given; the kernel takes at most \(MonitorAddress.maximumCount)")
        }
        var rendered: [String] = []
        for monitor in monitors { rendered.append(try monitor.rendered(for: options.messengerMode)) }

        var tokens = ["name=\(credentials.user)"]
        var usesKeyring = false
        if let secret = credentials.secret {
            if secretInRequest {
                tokens.append("secret=\(secret.base64)")
            } else {
                tokens.append("key=\(Self.keyDescription(user: credentials.user, secret: secret))")
                usesKeyring = true
            }
        }
        tokens += options.rendered.map(\.text)
        if let namespace = spec.namespace {
            if let kernel, kernel < KernelVersion(major: 4, minor: 19) {
                throw RBDError(
                    .invalidOption,
                    "\(spec): RADOS namespaces need kernel 4.19 or later; this kernel is \(kernel.release)")
            }
            tokens.append("_pool_ns=\(namespace)")
        }
        var line = [rendered.joined(separator: ","), tokens.joined(separator: ","), spec.pool, spec.image]
        if let snapshot = spec.snapshot { line.append(snapshot) }
        let text = line.joined(separator: " ")
        guard text.utf8.count <= Self.maximumLength else {
            throw RBDError(
                .invalidOption,
                "the add request for \(spec) is \(text.utf8.count) bytes; the kernel takes at most \(Self.maximumLength) (fewer monitors or options)"
            )
        }
        self.text = text
        self.usesKeyring = usesKeyring
    }

    /// The kernel keyring entry's name for `secret`: `client.<user>.<fingerprint>` (see
    /// ``CephSecret/fingerprint``), written as `key=` and shown so in `config_info`.
    static func keyDescription(user: String, secret: CephSecret) -> String { "client.\(user).\(secret.fingerprint)" }

    /// The request's comma-separated options (its second token).
    var options: [Substring] { Self.options(ofRequest: text) }

    /// The options token of an add request or of `config_info` (the same text).
    static func options(ofRequest text: String) -> [Substring] {
        text.split(separator: " ", omittingEmptySubsequences: false).dropFirst().first?.split(separator: ",") ?? []
    }

    var description: String { RBDBus.redactingSecret(text) }
    var debugDescription: String { "MapRequest(\(description))" }
    var customMirror: Mirror { Mirror(self, children: ["text": description], displayStyle: .struct) }
}
