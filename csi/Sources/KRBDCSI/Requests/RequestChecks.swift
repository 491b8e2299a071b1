// The argument checks the CSI spec asks of the Node RPCs, as small functions the request conformances share.
import CSI

/// Field checks with messages that name the RPC and the field the way the spec spells them.
package enum RequestChecks {
    /// A REQUIRED string field must be set (proto3 cannot tell "empty" from "unset").
    ///
    /// - Throws: `CSIError` `.invalidArgument`: `<rpc>: <field> is required`.
    package static func required(_ value: String, _ field: String, in rpc: String) throws(CSIError) {
        guard value.isEmpty else { return }
        throw CSIError(.invalidArgument, "\(rpc): \(field) is required")
    }

    /// A path field, when set, must be absolute and free of NUL bytes (it goes to mount(2) and friends).
    ///
    /// - Throws: `CSIError` `.invalidArgument` naming the field and the path.
    package static func absolutePath(_ value: String, _ field: String, in rpc: String) throws(CSIError) {
        guard !value.isEmpty else { return }
        guard value.hasPrefix("/"), !value.utf8.contains(0) else {
            throw CSIError(.invalidArgument, "\(rpc): \(field) '\(value)' must be an absolute path")
        }
    }

    /// A required path: set, absolute.
    package static func requiredPath(_ value: String, _ field: String, in rpc: String) throws(CSIError) {
        try required(value, field, in: rpc)
        try absolutePath(value, field, in: rpc)
    }

    /// A volume capability: an access type (block or mount) and a known access mode, and no multi-node writers on
    /// a filesystem.
    ///
    /// Multi-node writers are refused for mount because ext4 and xfs are not cluster filesystems: two nodes
    /// mounting one rw corrupt it (ceph-csi refuses the same with INVALID_ARGUMENT). Block access is allowed: the
    /// application on top (a clustered database, ocfs2) does the coordination.
    ///
    /// - Parameters:
    ///   - capability: the request's capability.
    ///   - isSet: whether the request carried one (`hasVolumeCapability`).
    ///   - field: the field's name, e.g. `volume_capability`.
    ///   - rpc: the RPC's name.
    /// - Throws: `CSIError` `.invalidArgument` naming the missing or bad part.
    package static func capability(
        _ capability: Csi_V1_VolumeCapability, isSet: Bool, _ field: String = "volume_capability", in rpc: String
    ) throws(CSIError) {
        guard isSet else { throw CSIError(.invalidArgument, "\(rpc): \(field) is required") }
        guard let accessType = capability.accessType else {
            throw CSIError(.invalidArgument, "\(rpc): \(field) needs an access type (block or mount)")
        }
        guard capability.hasAccessMode else {
            throw CSIError(.invalidArgument, "\(rpc): \(field).access_mode is required")
        }
        let mode = capability.accessMode.mode
        switch mode {
        case .unknown:
            throw CSIError(.invalidArgument, "\(rpc): \(field).access_mode.mode is required (got UNKNOWN)")
        case .UNRECOGNIZED(let value):
            throw CSIError(.invalidArgument, "\(rpc): \(field).access_mode.mode \(value) is not a CSI access mode")
        case .multiNodeMultiWriter:
            if case .mount = accessType {
                throw CSIError(
                    .invalidArgument,
                    "\(rpc): \(field): MULTI_NODE_MULTI_WRITER needs block access; "
                        + "a filesystem mounted read-write on several nodes is corrupted"
                )
            }
        default:
            break
        }
    }

    /// A capacity range, when set: no negative bytes, and a limit (when set) at least the required size.
    ///
    /// - Throws: `CSIError` `.invalidArgument` naming the field.
    package static func capacityRange(_ range: Csi_V1_CapacityRange, isSet: Bool, in rpc: String) throws(CSIError) {
        guard isSet else { return }
        guard range.requiredBytes >= 0, range.limitBytes >= 0 else {
            throw CSIError(.invalidArgument, "\(rpc): capacity_range must not be negative")
        }
        if range.limitBytes > 0, range.requiredBytes > range.limitBytes {
            throw CSIError(
                .invalidArgument,
                "\(rpc): capacity_range.required_bytes \(range.requiredBytes) exceeds limit_bytes \(range.limitBytes)")
        }
    }
}
