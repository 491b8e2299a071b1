// Library errors as CSI codes. The spec fixes a few (NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED);
// the rest follows what each library code means for the caller's retry: INVALID_ARGUMENT and FAILED_PRECONDITION
// need a change first, DEADLINE_EXCEEDED and ABORTED may simply be retried, INTERNAL is ours.
import BlockMount
import KRBD
import RBDVolume

extension CSIError {
    /// The CSI error for a failure of the rbd bus (map, unmap, keyring, module).
    ///
    /// - Parameters:
    ///   - error: what KRBD threw.
    ///   - context: what was being done, e.g. `map of rbd/ns/img`; prefixed to the message.
    package init(_ error: RBDError, context: String) {
        let code: Code =
            switch error.code {
            case .invalidSpec, .invalidOption, .invalidMonitor, .invalidCredentials: .invalidArgument
            case .notFound: .notFound
            // Not retryable as is: the host (module, keyring, features, a blocklisted client) must change first.
            case .invalidConfiguration, .moduleUnavailable, .keyringUnavailable, .unsupportedFeatures,
                .clientBlocklisted, .deviceNodeMissing:
                .failedPrecondition
            case .authenticationFailed: .permissionDenied
            case .timedOut: .deadlineExceeded
            // Someone else holds the image or device; the CO retries with backoff, as for ABORTED.
            case .lockHeld, .busy, .interrupted: .aborted
            case .alreadyMapped: .alreadyExists
            // CAP_SYS_ADMIN missing is the deployment's fault, not the caller's credentials.
            case .permissionDenied, .identityMismatch, .systemError: .internalError
            default: .internalError
            }
        self.init(code, "\(context): \(error.message)", cause: error)
    }

    /// The CSI error for a failure to probe, format or mount a device, or to unmount a path.
    ///
    /// - Parameters:
    ///   - error: what BlockMount threw.
    ///   - context: what was being done, e.g. `stage of vol-1 at /var/lib/kubelet/...`; prefixed to the message.
    package init(_ error: MountError, context: String) {
        let code: Code =
            switch error.code {
            case .invalidOptions: .invalidArgument
            // Data we must not touch, or a blank device asked for read-only: the caller has to decide.
            case .partitioned, .unknownData, .readOnlyBlank: .failedPrecondition
            case .targetInUse: .alreadyExists
            case .busy: .aborted
            default: .internalError
            }
        self.init(code, "\(context): \(error.message)", cause: error)
    }

    /// The CSI error for a failure of the volume lifecycle, by its typed code (and the code of the layer below for
    /// `.device` and `.mount`), never by its text.
    ///
    /// - Parameters:
    ///   - error: what RBDVolume threw.
    ///   - context: what was being done, e.g. `NodeStageVolume of vol-1 (rbd/img) at /var/lib/kubelet/...`.
    ///   - inUse: the code for `.inUse`: ALREADY_EXISTS where the spec says so (stage and publish with other
    ///     arguments), FAILED_PRECONDITION elsewhere (unstage while published).
    package init(_ error: VolumeError, context: String, inUse: Code = .failedPrecondition) {
        switch (error.code, error.cause) {
        case (.device, .rbd(let cause)):
            self.init(cause, context: context)
            message = "\(context): \(error.message)"
            return
        case (.mount, .mount(let cause)):
            self.init(cause, context: context)
            message = "\(context): \(error.message)"
            return
        default:
            break
        }
        let code: Code =
            switch error.code {
            case .invalidArgument: .invalidArgument
            case .notFound: .notFound
            // Publish before stage, or a staging path that is not this volume's mount (a reboot emptied it).
            case .notAttached: .failedPrecondition
            // A static volume whose image is blank: the data the PV should hold is not there.
            case .refusedFormat: .failedPrecondition
            case .inUse: inUse
            // Another operation on the volume is still running: the CO retries (the spec's "operation pending").
            case .lockTimeout, .cancelled: .aborted
            default: .internalError
            }
        // The description: the message, and a failed system call of the lifecycle's own after it.
        self.init(code, "\(context): \(error)", cause: error)
    }
}
