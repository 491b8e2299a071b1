// The CSI Identity service: name and version, capabilities, readiness.
import CSI
import GRPCCore
import SwiftProtobuf

/// GetPluginInfo, GetPluginCapabilities and Probe.
package struct IdentityService: Csi_V1_Identity.SimpleServiceProtocol {
    /// GetPluginInfo's `name`.
    package var driverName: String
    /// Probe's check.
    package var readiness: RBDReadiness
    /// The per-RPC log.
    package var log: RPCLog

    /// A service answering for `driverName`.
    package init(driverName: String, readiness: RBDReadiness, log: RPCLog) {
        self.driverName = driverName
        self.readiness = readiness
        self.log = log
    }

    /// The driver name and ``PluginVersion/current``.
    package func getPluginInfo(
        request: Csi_V1_GetPluginInfoRequest, context: ServerContext
    ) async throws -> Csi_V1_GetPluginInfoResponse {
        try await log.run(request) { info }
    }

    /// No capabilities: no CONTROLLER_SERVICE (a node-only plugin; ceph-csi's controller provisions), no
    /// VOLUME_ACCESSIBILITY_CONSTRAINTS (every node reaches every cluster), no online/offline expansion flag (that
    /// belongs to the controller's ControllerExpandVolume).
    package func getPluginCapabilities(
        request: Csi_V1_GetPluginCapabilitiesRequest, context: ServerContext
    ) async throws -> Csi_V1_GetPluginCapabilitiesResponse {
        try await log.run(request) { Csi_V1_GetPluginCapabilitiesResponse() }
    }

    /// `ready: true` when the rbd bus is usable; FAILED_PRECONDITION (the spec's code for a missing dependency)
    /// when it is not. Never `ready: false`: the plugin has no slow initialization to wait for, and "not ready"
    /// would make the CO wait for a module that will not appear by itself.
    package func probe(request: Csi_V1_ProbeRequest, context: ServerContext) async throws -> Csi_V1_ProbeResponse {
        try await log.run(request, quiet: true) {
            if let problem = readiness.problem() {
                throw CSIError(.failedPrecondition, "Probe: the rbd bus is not usable: \(problem)")
            }
            var response = Csi_V1_ProbeResponse()
            response.ready = Google_Protobuf_BoolValue(true)
            return response
        }
    }

    /// GetPluginInfo's answer.
    package var info: Csi_V1_GetPluginInfoResponse {
        var response = Csi_V1_GetPluginInfoResponse()
        response.name = driverName
        response.vendorVersion = PluginVersion.current
        return response
    }
}
