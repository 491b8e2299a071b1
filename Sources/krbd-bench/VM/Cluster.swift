// The sandbox cluster, from the variables scripts/sandbox sets (KRBD_TEST_*).
import KRBD

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

struct Cluster {
    /// `ip:port` of the v1 monitor.
    let monitor: String
    let user: String
    /// The raw cephx key, for the floor's own add_key.
    let keyBytes: [UInt8]
    let keyring: String
    let conf: String
    let pool: String
    let monitors: [MonitorAddress]
    let credentials: CephCredentials

    static func fromEnvironment() throws -> Cluster {
        func variable(_ name: String) throws -> String {
            guard let value = getenv(name) else {
                throw BenchError("\(name) is not set: run `krbd-bench vm` inside scripts/sandbox")
            }
            return String(cString: value)
        }
        let key = try variable("KRBD_TEST_KEY")
        guard let bytes = decodeBase64(key) else { throw BenchError("KRBD_TEST_KEY is not base64") }
        let monitor = try variable("KRBD_TEST_MON")
        let user = try variable("KRBD_TEST_USER")
        return Cluster(
            monitor: monitor, user: user, keyBytes: bytes, keyring: try variable("KRBD_TEST_KEYRING"),
            conf: try variable("KRBD_TEST_CEPH_CONF"), pool: try variable("KRBD_TEST_POOL"),
            monitors: try MonitorAddress.parseList(monitor),
            credentials: try CephCredentials(user: user, secret: CephSecret(base64: key)))
    }

    /// What `rbd` and `krbd` need to reach the cluster.
    var cliArguments: [String] { ["-c", conf, "-m", monitor, "--id", user, "--keyring", keyring] }
    var krbdArguments: [String] { ["-m", monitor, "--id", user, "--keyring", keyring] }
}

/// Standard base64 (with padding) to bytes; `nil` when malformed.
func decodeBase64(_ text: String) -> [UInt8]? {
    var value: UInt32 = 0
    var bits = 0
    var out: [UInt8] = []
    for c in text.utf8 {
        let digit: UInt32
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = UInt32(c - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): digit = 62
        case UInt8(ascii: "/"): digit = 63
        case UInt8(ascii: "="), UInt8(ascii: "\n"), UInt8(ascii: " "): continue
        default: return nil
        }
        value = value << 6 | digit
        bits += 6
        if bits >= 8 {
            bits -= 8
            out.append(UInt8(truncatingIfNeeded: value >> UInt32(bits)))
            value &= (1 << UInt32(bits)) - 1
        }
    }
    return out.isEmpty ? nil : out
}

extension Cluster {
    /// Creates fresh images (1 GiB thin, layering + exclusive-lock, the sandbox's blank kind) in
    /// one python3 process: each ceph or rbd CLI call costs seconds of start-up under emulation.
    func createImages(_ names: [String]) throws {
        try images("create", names)
    }

    /// Deletes the data objects of images that are used up (never mapped again), leaving their
    /// headers: it frees the OSD's memory in a few operations an image where a removal makes 256.
    func dropImageData(_ names: [String]) throws {
        try images("drop", names)
    }

    private func images(_ verb: String, _ names: [String]) throws {
        guard !names.isEmpty else { return }
        let script = """
            import rados, rbd, sys
            conf, user, keyring, pool, verb = sys.argv[1:6]
            cluster = rados.Rados(conffile=conf, rados_id=user, conf={"keyring": keyring})
            cluster.connect(timeout=120)
            ioctx = cluster.open_ioctx(pool)
            if verb == "drop":
                # rbd_id.<name> holds the image id, ceph-encoded (a 4-byte length first).
                prefixes = tuple("rbd_data.%s." % ioctx.read("rbd_id." + name)[4:].decode() for name in sys.argv[6:])
                for obj in list(ioctx.list_objects()):
                    if obj.key.startswith(prefixes):
                        ioctx.remove_object(obj.key)
            else:
                for name in sys.argv[6:]:
                    rbd.RBD().create(ioctx, name, 1 << 30, old_format=False,
                                     features=rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK)
            ioctx.close()
            cluster.shutdown()
            """
        try runTool(["/usr/bin/python3", "-c", script, conf, user, keyring, pool, verb] + names)
    }
}
