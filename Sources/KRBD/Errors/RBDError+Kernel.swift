// The kernel's errno for an add or remove write, turned into a code and a message that names the
// likely cause and a fix (see research/kernel-rbd-abi.md §b and lab/NOTES.md).
import LinuxSystem
import SystemPackage

extension RBDError {
    /// What the caller knew when the add write failed, for the message.
    struct AddContext {
        var spec: ImageSpec
        var options: MapOptions
        var monitors: String
        var usedKeyring: Bool
        var user: String
        var supportedFeatures: RBDFeatures?
        var hasSysAdmin: Bool
    }

    /// The error for a failed write of an add request.
    static func addFailed(_ cause: SyscallError, _ c: AddContext) -> RBDError {
        let spec = c.spec
        let code: Code
        let message: String
        switch cause.errno {
        case .noSuchFileOrDirectory:
            code = .notFound
            message = "\(spec): pool, namespace, image or snapshot does not exist (the kernel answered ENOENT)"
        case .noSuchAddressOrDevice:
            code = .unsupportedFeatures
            var text = "\(spec): the image uses features this kernel does not support"
            if let supported = c.supportedFeatures {
                text += " (the kernel supports: \(supported))"
                let unsupported = RBDFeatures(rawValue: ~supported.rawValue & 0x7ff)
                    .intersection([
                        .objectMap, .fastDiff, .deepFlatten, .journaling, .exclusiveLock, .stripingV2, .dataPool,
                    ])
                if !unsupported.isEmpty { text += "; likely culprits: \(unsupported)" }
            }
            text +=
                "; disable them (rbd feature disable \(spec) object-map fast-diff deep-flatten) or map read-only; dmesg names the mask"
            message = text
        case .readOnlyFileSystem:
            code = .lockHeld
            message =
                "\(spec): the exclusive lock is held by a peer mapped with 'exclusive' that will not release it (EROFS); unmap it there first"
        case .resourceBusy:
            code = .lockHeld
            message =
                "\(spec): the image header is locked by another mechanism (an 'rbd lock add' advisory lock or an incompatible lock type); remove that lock"
        case .permissionDenied:
            // A blocklist denied for a dead lock owner is EACCES too, and cannot be told apart
            // from a rejected key; a read-only mapping takes no lock, so it is the key there.
            code = .authenticationFailed
            if c.options.readOnly || spec.snapshot != nil {
                message = "\(spec): the monitors rejected client.\(c.user) (wrong key or unknown user; EACCES)"
            } else {
                message =
                    "\(spec): access denied (EACCES): most likely the monitors rejected client.\(c.user) (wrong key or unknown user); or, for an exclusive-lock image whose previous owner died, client.\(c.user) may not blocklist it (needs mon 'profile rbd' caps)"
            }
        case .notPermitted:
            if !c.hasSysAdmin {
                code = .permissionDenied
                message =
                    "\(spec): mapping needs CAP_SYS_ADMIN in the initial user namespace (EPERM); run as root on the host"
            } else if c.usedKeyring {
                code = .keyringUnavailable
                message =
                    "\(spec): the kernel did not find the key client.\(c.user) in this process's keyrings (EPERM); check that add_key is allowed and the key is valid"
            } else {
                code = .authenticationFailed
                message =
                    "\(spec): the kernel refused client.\(c.user) (EPERM): no key was given and none was found in the keyrings; pass credentials"
            }
        case .invalidArgument:
            code = .invalidOption
            message =
                "\(spec): the kernel rejected the request (EINVAL): an option it does not know or a value out of range, a malformed secret, a bad monitor address, or exclusive/lock_on_read on an image without exclusive-lock; dmesg names which"
        case .timedOut:
            code = .timedOut
            var text =
                "\(spec): no answer from the monitors \(c.monitors) within mount_timeout (ETIMEDOUT): monitors unreachable or ms_mode mismatch (3300 needs ms_mode, 6789 must not have it)"
            if c.options.lockTimeout != nil { text += ", or the exclusive lock was not acquired within lock_timeout" }
            message = text
        case .noSuchProcess:
            code = .invalidMonitor
            message = "\(spec): a monitor hostname could not be resolved by the kernel (ESRCH); give IP addresses"
        case .fileNameTooLong:
            code = .invalidSpec
            message = "\(spec): snapshot name too long for the kernel (ENAMETOOLONG)"
        case .interrupted:
            code = .interrupted
            message = "\(spec): a signal interrupted the map (EINTR); the kernel cleaned up, retry"
        case Errno(rawValue: 108):  // ESHUTDOWN: EBLOCKLISTED
            code = .clientBlocklisted
            message =
                "\(spec): this kernel client is blocklisted by the cluster (ESHUTDOWN); map with noshare for a fresh client, or remove the blocklist entry"
        case .operationNotSupportedByDevice:
            code = .moduleUnavailable
            message = "\(spec): the rbd module is being unloaded (ENODEV)"
        default:
            code = .systemError
            message = "\(spec): the kernel refused the map request"
        }
        return RBDError(code, message, cause: cause)
    }
}
