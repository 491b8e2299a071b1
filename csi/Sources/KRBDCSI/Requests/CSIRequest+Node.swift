// The Node requests: their checks (per the spec's field rules) and their redaction.
import CSI

extension Csi_V1_NodeStageVolumeRequest: CSIRequest {
    package static var rpcName: String { "NodeStageVolume" }
    package var logVolumeID: String { volumeID }

    package func validate() throws(CSIError) {
        try RequestChecks.required(volumeID, "volume_id", in: Self.rpcName)
        try RequestChecks.requiredPath(stagingTargetPath, "staging_target_path", in: Self.rpcName)
        try RequestChecks.capability(volumeCapability, isSet: hasVolumeCapability, in: Self.rpcName)
    }

    package func redacted() -> Self {
        var copy = self
        copy.secrets = Redaction.secrets(secrets)
        copy.volumeContext = Redaction.context(volumeContext)
        if hasVolumeCapability { copy.volumeCapability = Redaction.capability(volumeCapability) }
        return copy
    }
}

extension Csi_V1_NodeUnstageVolumeRequest: CSIRequest {
    package static var rpcName: String { "NodeUnstageVolume" }
    package var logVolumeID: String { volumeID }

    package func validate() throws(CSIError) {
        try RequestChecks.required(volumeID, "volume_id", in: Self.rpcName)
        try RequestChecks.requiredPath(stagingTargetPath, "staging_target_path", in: Self.rpcName)
    }

    /// Nothing secret in it (no secrets, no capability).
    package func redacted() -> Self { self }
}

extension Csi_V1_NodePublishVolumeRequest: CSIRequest {
    package static var rpcName: String { "NodePublishVolume" }
    package var logVolumeID: String { volumeID }

    package func validate() throws(CSIError) {
        try RequestChecks.required(volumeID, "volume_id", in: Self.rpcName)
        try RequestChecks.requiredPath(targetPath, "target_path", in: Self.rpcName)
        try RequestChecks.capability(volumeCapability, isSet: hasVolumeCapability, in: Self.rpcName)
        // The spec's own code for this case: we advertise STAGE_UNSTAGE_VOLUME, so publish without a staging path
        // means the CO skipped NodeStageVolume (kubelet after a reboot did: ceph-csi #4762).
        guard !stagingTargetPath.isEmpty else {
            throw CSIError(
                .failedPrecondition,
                "\(Self.rpcName): staging_target_path is required "
                    + "(the plugin has STAGE_UNSTAGE_VOLUME; stage the volume first)"
            )
        }
        try RequestChecks.absolutePath(stagingTargetPath, "staging_target_path", in: Self.rpcName)
    }

    package func redacted() -> Self {
        var copy = self
        copy.secrets = Redaction.secrets(secrets)
        copy.volumeContext = Redaction.context(volumeContext)
        if hasVolumeCapability { copy.volumeCapability = Redaction.capability(volumeCapability) }
        return copy
    }
}

extension Csi_V1_NodeUnpublishVolumeRequest: CSIRequest {
    package static var rpcName: String { "NodeUnpublishVolume" }
    package var logVolumeID: String { volumeID }

    package func validate() throws(CSIError) {
        try RequestChecks.required(volumeID, "volume_id", in: Self.rpcName)
        try RequestChecks.requiredPath(targetPath, "target_path", in: Self.rpcName)
    }

    /// Nothing secret in it.
    package func redacted() -> Self { self }
}

extension Csi_V1_NodeGetVolumeStatsRequest: CSIRequest {
    package static var rpcName: String { "NodeGetVolumeStats" }
    package var logVolumeID: String { volumeID }

    package func validate() throws(CSIError) {
        try RequestChecks.required(volumeID, "volume_id", in: Self.rpcName)
        try RequestChecks.requiredPath(volumePath, "volume_path", in: Self.rpcName)
        try RequestChecks.absolutePath(stagingTargetPath, "staging_target_path", in: Self.rpcName)
    }

    /// Nothing secret in it.
    package func redacted() -> Self { self }
}

extension Csi_V1_NodeExpandVolumeRequest: CSIRequest {
    package static var rpcName: String { "NodeExpandVolume" }
    package var logVolumeID: String { volumeID }

    package func validate() throws(CSIError) {
        try RequestChecks.required(volumeID, "volume_id", in: Self.rpcName)
        try RequestChecks.requiredPath(volumePath, "volume_path", in: Self.rpcName)
        try RequestChecks.absolutePath(stagingTargetPath, "staging_target_path", in: Self.rpcName)
        try RequestChecks.capacityRange(capacityRange, isSet: hasCapacityRange, in: Self.rpcName)
        // OPTIONAL here (the plugin may look at volume_path instead), but if sent it must be complete.
        if hasVolumeCapability {
            try RequestChecks.capability(volumeCapability, isSet: true, in: Self.rpcName)
        }
    }

    package func redacted() -> Self {
        var copy = self
        copy.secrets = Redaction.secrets(secrets)
        if hasVolumeCapability { copy.volumeCapability = Redaction.capability(volumeCapability) }
        return copy
    }
}

extension Csi_V1_NodeGetCapabilitiesRequest: CSIRequest {
    package static var rpcName: String { "NodeGetCapabilities" }
    package var logVolumeID: String { "" }
    package func validate() throws(CSIError) {}
    /// Empty message.
    package func redacted() -> Self { self }
}

extension Csi_V1_NodeGetInfoRequest: CSIRequest {
    package static var rpcName: String { "NodeGetInfo" }
    package var logVolumeID: String { "" }
    package func validate() throws(CSIError) {}
    /// Empty message.
    package func redacted() -> Self { self }
}
