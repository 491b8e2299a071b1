// When an existing mapping may serve a map request instead of a new one: the one rule set that
// `map` with `.reuse` applies, and so attach (which maps through it). A mapping is adopted only
// when it is what a fresh map of the same request would give: the same credentials (proved by
// the fingerprinted keyring name or the secret in config_info), the same device-level mode, and
// the same client-affecting options, `exclusive` and `noshare` included.
import LinuxSystem

/// What an existing mapping of the image is to a map request.
enum Adoption: Sendable {
    /// It is what this request would make: hand it out.
    case reusable
    /// Made with other credentials, or not provably with these (no fingerprint, unreadable
    /// `config_info`): never handed out; a new map lets the kernel check this caller's key.
    case otherCredentials
    /// Made with these credentials but not as asked (the reason names the difference).
    case conflict(String)
    /// Its `config_info` could not be read for another reason than permissions or its removal
    /// (EIO, …): unknown, which is neither "reuse" nor "map again".
    case unreadable(SyscallError)
}

extension RBDBus {
    /// The options that do not make a mapping different: `mount_timeout` bounds only the map
    /// and unmap writes; the credentials are compared on their own; `_pool_ns` and `fsid` are
    /// part of the identity, which `matches` already compared.
    private static func isNeutral(_ option: Substring) -> Bool {
        option.hasPrefix("mount_timeout=") || option.hasPrefix("_pool_ns=") || option.hasPrefix("fsid=")
            || isCredential(option)
    }

    private static func isCredential(_ option: Substring) -> Bool {
        option.hasPrefix("name=") || option.hasPrefix("key=") || option.hasPrefix("secret=")
    }

    /// `read_only` (the rbd CLI's spelling) is `ro`; `share` is the default and says nothing.
    private static func normalized(_ options: [Substring]) -> Set<Substring> {
        Set(options.filter { !isNeutral($0) && $0 != "share" }.map { $0 == "read_only" ? "ro" : $0 })
    }

    /// Whether device `id` (which maps the requested image in the requested cluster) may serve
    /// `request` (see ``Adoption``). Reads `config_info` (root only) and `<sysfs>/block/rbd<id>/ro`.
    func adoption(of id: Int, for request: MapRequest, spec: ImageSpec, options: MapOptions) -> Adoption {
        let config: String
        do throws(SyscallError) {
            config = try Files.readAttribute(attributePath(id, "config_info"))
        } catch {
            // Not root (EACCES) cannot prove the key; a device removed meanwhile (ENOENT) is no
            // mapping to reuse: both map anew. Anything else is unknown.
            if [.permissionDenied, .notPermitted, .noSuchFileOrDirectory, .operationNotSupportedByDevice]
                .contains(error.errno)
            {
                return .otherCredentials
            }
            return .unreadable(error)
        }
        let existing = MapRequest.options(ofRequest: config)
        // The credentials first: a mapping is never proof of a key the kernel did not check.
        let credentials = Set(existing.filter(Self.isCredential))
        guard credentials == Set(request.options.filter(Self.isCredential)) else { return .otherCredentials }

        var differences: [String] = []
        let wantsReadOnly = options.readOnly || spec.snapshot != nil
        if let ro = blockAttribute(id, "ro") {
            let isReadOnly = ro == "1"
            if isReadOnly != wantsReadOnly {
                differences.append(
                    isReadOnly
                        ? "it is read-only, a writable mapping was asked for"
                        : "it is writable, a read-only mapping was asked for")
            }
        }
        var have = Self.normalized(existing)
        var want = Self.normalized(request.options)
        if have.contains("exclusive") && want.contains("exclusive") {
            // With `exclusive` the lock is taken at map time and held for the mapping's life:
            // lock_timeout bounded only that first acquisition.
            have = have.filter { !$0.hasPrefix("lock_timeout=") }
            want = want.filter { !$0.hasPrefix("lock_timeout=") }
        }
        if want.contains("exclusive") && !have.contains("exclusive") {
            differences.append("it holds no exclusive lock (unfenced), exclusive was asked for")
        }
        let missing = want.subtracting(have).subtracting(["exclusive"]).sorted()
        let extra = have.subtracting(want).sorted()
        if !missing.isEmpty { differences.append("it lacks \(missing.joined(separator: ","))") }
        if !extra.isEmpty {
            differences.append("it has \(extra.joined(separator: ",")) that this map does not ask for")
        }
        return differences.isEmpty ? .reusable : .conflict(differences.joined(separator: "; "))
    }

    /// `<sysfs>/block/rbd<id>/<name>`, if readable.
    func blockAttribute(_ id: Int, _ name: String) -> String? {
        try? Files.readAttribute(blockPrefix + String(id) + "/" + name)
    }
}
