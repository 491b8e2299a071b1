// The CSI Node service. This foundation answers NodeGetInfo and NodeGetCapabilities for real and checks the
// arguments of the volume RPCs per the spec; their work (map + mount through KRBD, BlockMount and RBDVolume)
// is being wired in, so after the checks they answer UNIMPLEMENTED.
import CSI
import GRPCCore

/// The Node RPCs.
package struct NodeService: Csi_V1_Node.SimpleServiceProtocol {
    /// NodeGetInfo's `node_id`.
    package var nodeID: String
    /// NodeGetInfo's `max_volumes_per_node` (see ``RBDDeviceLimit``).
    package var maxVolumesPerNode: Int64
    /// The clusters volumes may come from (used once staging is wired in).
    package var clusters: ClusterConfig
    /// The per-RPC log.
    package var log: RPCLog

    /// What NodeGetCapabilities advertises: what the full plugin implements, as ceph-csi's rbd node does.
    /// Not VOLUME_MOUNT_GROUP: ext4 and xfs have no gid mount option, and kubelet's fsGroup handling is enough.
    package static let capabilities: [Csi_V1_NodeServiceCapability.RPC.TypeEnum] = [
        .stageUnstageVolume, .getVolumeStats, .volumeCondition, .expandVolume, .singleNodeMultiWriter,
    ]

    /// A service for node `nodeID`.
    package init(nodeID: String, maxVolumesPerNode: Int64, clusters: ClusterConfig, log: RPCLog) {
        self.nodeID = nodeID
        self.maxVolumesPerNode = maxVolumesPerNode
        self.clusters = clusters
        self.log = log
    }

    package func nodeStageVolume(
        request: Csi_V1_NodeStageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeStageVolumeResponse {
        try await log.run(request) { () throws(CSIError) -> Csi_V1_NodeStageVolumeResponse in
            throw Self.notYet(Csi_V1_NodeStageVolumeRequest.rpcName)
        }
    }

    package func nodeUnstageVolume(
        request: Csi_V1_NodeUnstageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeUnstageVolumeResponse {
        try await log.run(request) { () throws(CSIError) -> Csi_V1_NodeUnstageVolumeResponse in
            throw Self.notYet(Csi_V1_NodeUnstageVolumeRequest.rpcName)
        }
    }

    package func nodePublishVolume(
        request: Csi_V1_NodePublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodePublishVolumeResponse {
        try await log.run(request) { () throws(CSIError) -> Csi_V1_NodePublishVolumeResponse in
            throw Self.notYet(Csi_V1_NodePublishVolumeRequest.rpcName)
        }
    }

    package func nodeUnpublishVolume(
        request: Csi_V1_NodeUnpublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeUnpublishVolumeResponse {
        try await log.run(request) { () throws(CSIError) -> Csi_V1_NodeUnpublishVolumeResponse in
            throw Self.notYet(Csi_V1_NodeUnpublishVolumeRequest.rpcName)
        }
    }

    package func nodeGetVolumeStats(
        request: Csi_V1_NodeGetVolumeStatsRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeGetVolumeStatsResponse {
        try await log.run(request) { () throws(CSIError) -> Csi_V1_NodeGetVolumeStatsResponse in
            throw Self.notYet(Csi_V1_NodeGetVolumeStatsRequest.rpcName)
        }
    }

    package func nodeExpandVolume(
        request: Csi_V1_NodeExpandVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeExpandVolumeResponse {
        try await log.run(request) { () throws(CSIError) -> Csi_V1_NodeExpandVolumeResponse in
            throw Self.notYet(Csi_V1_NodeExpandVolumeRequest.rpcName)
        }
    }

    package func nodeGetCapabilities(
        request: Csi_V1_NodeGetCapabilitiesRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeGetCapabilitiesResponse {
        try await log.run(request) { capabilitiesResponse }
    }

    package func nodeGetInfo(
        request: Csi_V1_NodeGetInfoRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeGetInfoResponse {
        try await log.run(request) { info }
    }

    /// NodeGetCapabilities' answer.
    package var capabilitiesResponse: Csi_V1_NodeGetCapabilitiesResponse {
        var response = Csi_V1_NodeGetCapabilitiesResponse()
        response.capabilities = Self.capabilities.map { type in
            var capability = Csi_V1_NodeServiceCapability()
            capability.rpc.type = type
            return capability
        }
        return response
    }

    /// NodeGetInfo's answer: no topology (the plugin does not advertise VOLUME_ACCESSIBILITY_CONSTRAINTS).
    package var info: Csi_V1_NodeGetInfoResponse {
        var response = Csi_V1_NodeGetInfoResponse()
        response.nodeID = nodeID
        response.maxVolumesPerNode = maxVolumesPerNode
        return response
    }

    /// UNIMPLEMENTED for an RPC whose arguments passed the checks but whose work is not wired in yet.
    package static func notYet(_ rpc: String) -> CSIError {
        CSIError(
            .unimplemented,
            "\(rpc) is not implemented yet: this krbd-csi build is the foundation (Identity, NodeGetInfo, "
                + "argument checks); the volume work through swift-krbd is being wired in (issue 14)"
        )
    }
}
