// The Identity requests: empty messages, nothing to check or hide.
import CSI

extension Csi_V1_GetPluginInfoRequest: CSIRequest {
    package static var rpcName: String { "GetPluginInfo" }
    package var logVolumeID: String { "" }
    package func validate() throws(CSIError) {}
    /// Empty message.
    package func redacted() -> Self { self }
}

extension Csi_V1_GetPluginCapabilitiesRequest: CSIRequest {
    package static var rpcName: String { "GetPluginCapabilities" }
    package var logVolumeID: String { "" }
    package func validate() throws(CSIError) {}
    /// Empty message.
    package func redacted() -> Self { self }
}

extension Csi_V1_ProbeRequest: CSIRequest {
    package static var rpcName: String { "Probe" }
    package var logVolumeID: String { "" }
    package func validate() throws(CSIError) {}
    /// Empty message.
    package func redacted() -> Self { self }
}
