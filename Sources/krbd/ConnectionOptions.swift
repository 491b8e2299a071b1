// Flags every command that talks to a cluster shares: monitors, user, secret, ceph.conf.
import ArgumentParser
import KRBD
import SystemPackage

struct ConnectionOptions: ParsableArguments {
    @Option(
        name: [.customShort("m"), .customLong("mon")],
        help:
            "Monitor address(es): ip, ip:port, [ipv6]:port, v1:/v2: forms; repeat or separate with commas. Default: mon_host from --conf."
    )
    var monitors: [String] = []

    @Option(name: .customLong("id"), help: "The cephx user, without 'client.'.")
    var user: String = "admin"

    @Option(name: .customLong("keyring"), help: "Keyring file holding [client.<id>] key = …")
    var keyring: String?

    @Option(name: [.customLong("secret-file"), .customLong("keyfile")], help: "File holding only the base64 secret.")
    var secretFile: String?

    @Option(name: .customLong("conf"), help: "ceph.conf for mon_host and keyring locations.")
    var conf: String = CephConfig.defaultPath.string

    @Flag(
        name: .customLong("secret-in-request"),
        help:
            "Send the secret in the request (secret=) instead of the kernel keyring; it then stays readable by root in config_info. For containers whose seccomp profile blocks add_key."
    )
    var secretInRequest = false

    private func config() throws(RBDError) -> CephConfig { try CephConfig(contentsOf: FilePath(conf)) }

    /// --mon, else mon_host from ceph.conf.
    func resolveMonitors() throws(RBDError) -> [MonitorAddress] {
        if !monitors.isEmpty { return try MonitorAddress.parseList(monitors.joined(separator: ",")) }
        return try config().monitors(user: user)
    }

    /// --secret-file, --keyring, else the keyring locations of ceph.conf (like rbd).
    func resolveCredentials() throws(RBDError) -> CephCredentials {
        let transport: CephCredentials.Transport = secretInRequest ? .secretInRequest : .kernelKeyring
        if let secretFile { return try CephCredentials.keyFile(FilePath(secretFile), user: user, transport: transport) }
        if let keyring { return try CephCredentials.keyringFile(FilePath(keyring), user: user, transport: transport) }
        let config = (try? self.config()) ?? CephConfig(parsing: "")
        if config.value("auth_client_required", user: user) == "none" {
            return try CephCredentials(user: user, secret: nil, transport: transport)
        }
        let candidates = config.keyringPaths(user: user)
        var lastError: RBDError?
        for path in candidates {
            do {
                return try CephCredentials.keyringFile(path, user: user, transport: transport)
            } catch {
                lastError = error
            }
        }
        throw RBDError(
            .invalidCredentials,
            "no key for client.\(user) in \(candidates.map(\.string).joined(separator: ", ")); pass --keyring or --secret-file"
                + (lastError.map { " (\($0.message))" } ?? ""))
    }
}

/// Hidden roots for tests and chroots.
struct RootOptions: ParsableArguments {
    @Option(name: .customLong("sysfs"), help: .hidden)
    var sysfs: String = "/sys"

    @Option(name: .customLong("dev"), help: .hidden)
    var dev: String = "/dev"

    @Option(name: .customLong("lock-file"), help: .hidden)
    var lockFile: String = "/run/krbd.lock"

    var bus: RBDBus { RBDBus(sysfs: FilePath(sysfs), dev: FilePath(dev), lockFile: FilePath(lockFile)) }
}
