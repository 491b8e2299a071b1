// The CSI Node service, through RBDVolume's async lifecycle: NodeStage/Unstage (map; mount access: format only a
// blank device and mount at the staging path; block access: bind the device node onto `<staging>/device`),
// NodePublish/Unpublish (bind into the target path: a directory, or a file for block), NodeGetVolumeStats,
// NodeExpandVolume (the kernel's new size, then resize2fs / xfs_growfs online; block: the size only), NodeGetInfo
// and NodeGetCapabilities.
import CSI
import GRPCCore
import KRBD
import RBDVolume
import SystemPackage

/// The Node RPCs.
package struct NodeService: Csi_V1_Node.SimpleServiceProtocol {
    /// NodeGetInfo's `node_id`.
    package var nodeID: String
    /// NodeGetInfo's `max_volumes_per_node` (see ``RBDDeviceLimit``).
    package var maxVolumesPerNode: Int64
    /// The clusters volumes may come from.
    package var clusters: ClusterConfig
    /// The volume lifecycle.
    package var volumes: NodeVolumes
    /// The per-RPC log.
    package var log: RPCLog

    /// What NodeGetCapabilities advertises: what the full plugin implements, as ceph-csi's rbd node does.
    /// Not VOLUME_MOUNT_GROUP: ext4 and xfs have no gid mount option, and kubelet's fsGroup handling is enough.
    package static let capabilities: [Csi_V1_NodeServiceCapability.RPC.TypeEnum] = [
        .stageUnstageVolume, .getVolumeStats, .volumeCondition, .expandVolume, .singleNodeMultiWriter,
    ]

    /// A service for node `nodeID`.
    package init(nodeID: String, maxVolumesPerNode: Int64, clusters: ClusterConfig, volumes: NodeVolumes, log: RPCLog) {
        self.nodeID = nodeID
        self.maxVolumesPerNode = maxVolumesPerNode
        self.clusters = clusters
        self.volumes = volumes
        self.log = log
    }

    package func nodeStageVolume(
        request: Csi_V1_NodeStageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeStageVolumeResponse {
        try await log.run(request) { () async throws(CSIError) -> Csi_V1_NodeStageVolumeResponse in
            let volume = try VolumeRequest(stage: request, clusters: clusters)
            let staging = FilePath(request.stagingTargetPath)
            let context = "NodeStageVolume of \(request.volumeID) (\(volume.image)) at \(staging)"
            if let features = volume.features {
                do throws(RBDError) {
                    try volumes.plugin.provider.bus.requireSupported(features, of: volume.image)
                } catch {
                    throw CSIError(error, context: context)
                }
            }
            let result: AttachResult
            do throws(VolumeError) {
                result = try await volumes.plugin.attach(
                    volume.spec, key: volume.key, at: staging, deadline: volumes.deadline)
            } catch {
                throw CSIError(error, context: context, inUse: .alreadyExists)
            }
            if !result.changed, let staged = result.fsType, staged != volume.spec.fsType {
                throw CSIError(
                    .alreadyExists,
                    "\(context): the volume is staged with a \(staged) filesystem, not \(volume.spec.fsType); "
                        + "unstage it before staging it otherwise")
            }
            PluginMetrics.phases(result.timings, operation: "stage")
            PluginMetrics.stagedVolumes(volumes.plugin.journal.keys().count)
            if let mismatch = result.fsTypeMismatch {
                log.logger.warning("\(mismatch)", metadata: ["volume_id": .string(request.volumeID)])
            }
            return Csi_V1_NodeStageVolumeResponse()
        }
    }

    package func nodeUnstageVolume(
        request: Csi_V1_NodeUnstageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeUnstageVolumeResponse {
        try await log.run(request) { () async throws(CSIError) -> Csi_V1_NodeUnstageVolumeResponse in
            let staging = FilePath(request.stagingTargetPath)
            do throws(VolumeError) {
                let result = try await volumes.plugin.detach(
                    key: VolumeNames.key(forVolumeID: request.volumeID), at: staging, deadline: volumes.deadline)
                PluginMetrics.phases(result.timings, operation: "unstage")
            } catch {
                throw CSIError(error, context: "NodeUnstageVolume of \(request.volumeID) at \(staging)")
            }
            PluginMetrics.stagedVolumes(volumes.plugin.journal.keys().count)
            return Csi_V1_NodeUnstageVolumeResponse()
        }
    }

    package func nodePublishVolume(
        request: Csi_V1_NodePublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodePublishVolumeResponse {
        try await log.run(request) { () async throws(CSIError) -> Csi_V1_NodePublishVolumeResponse in
            let mountFlags: [String]
            let access: VolumeAccess
            switch request.volumeCapability.accessType {
            case .mount(let mount)?: (mountFlags, access) = (mount.mountFlags, .filesystem)
            case .block?: (mountFlags, access) = ([], .block)
            case nil:
                throw CSIError(
                    .invalidArgument, "NodePublishVolume: volume_capability needs an access type (block or mount)")
            }
            let mode = request.volumeCapability.accessMode.mode
            let readOnly = request.readonly || mode == .singleNodeReaderOnly || mode == .multiNodeReaderOnly
            let target = FilePath(request.targetPath)
            do throws(VolumeError) {
                let result = try await volumes.plugin.setUp(
                    key: VolumeNames.key(forVolumeID: request.volumeID), at: FilePath(request.stagingTargetPath),
                    target: target, readOnly: readOnly, mountOptions: mountFlags, access: access,
                    deadline: volumes.deadline)
                PluginMetrics.phases(result.timings, operation: "publish")
            } catch {
                throw CSIError(
                    error, context: "NodePublishVolume of \(request.volumeID) at \(target)", inUse: .alreadyExists)
            }
            return Csi_V1_NodePublishVolumeResponse()
        }
    }

    package func nodeUnpublishVolume(
        request: Csi_V1_NodeUnpublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeUnpublishVolumeResponse {
        try await log.run(request) { () async throws(CSIError) -> Csi_V1_NodeUnpublishVolumeResponse in
            let target = FilePath(request.targetPath)
            do throws(VolumeError) {
                let result = try await volumes.plugin.tearDown(
                    key: VolumeNames.key(forVolumeID: request.volumeID), target: target, deadline: volumes.deadline)
                PluginMetrics.phases(result.timings, operation: "unpublish")
            } catch {
                throw CSIError(error, context: "NodeUnpublishVolume of \(request.volumeID) at \(target)")
            }
            return Csi_V1_NodeUnpublishVolumeResponse()
        }
    }

    package func nodeGetVolumeStats(
        request: Csi_V1_NodeGetVolumeStatsRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeGetVolumeStatsResponse {
        try await log.run(request, quiet: true) { () async throws(CSIError) -> Csi_V1_NodeGetVolumeStatsResponse in
            let path = FilePath(request.volumePath)
            let key = VolumeNames.key(forVolumeID: request.volumeID)
            let context = "NodeGetVolumeStats of \(request.volumeID) at \(path)"
            let answer: VolumeStats
            do throws(VolumeError) {
                answer = try await volumes.plugin.stats(key: key, at: path)
            } catch {
                throw CSIError(error, context: context)
            }
            var response = Csi_V1_NodeGetVolumeStatsResponse()
            var bytes = Csi_V1_VolumeUsage()
            bytes.unit = .bytes
            if let usage = answer.usage {
                bytes.total = usage.totalBytes
                bytes.available = usage.availableBytes
                bytes.used = usage.usedBytes
                var inodes = Csi_V1_VolumeUsage()
                inodes.unit = .inodes
                inodes.total = usage.totalInodes
                inodes.available = usage.availableInodes
                inodes.used = usage.usedInodes
                response.usage = [bytes, inodes]
            } else {
                // Block: the device's size (the spec's "total" in BYTES); what is used on it is the workload's.
                bytes.total = Int64(clamping: answer.deviceBytes ?? 0)
                response.usage = [bytes]
            }
            response.volumeCondition.abnormal = answer.condition.abnormal
            response.volumeCondition.message = answer.condition.message
            return response
        }
    }

    package func nodeExpandVolume(
        request: Csi_V1_NodeExpandVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeExpandVolumeResponse {
        try await log.run(request) { () async throws(CSIError) -> Csi_V1_NodeExpandVolumeResponse in
            let required = UInt64(max(0, request.capacityRange.requiredBytes))
            let result: ExpandResult
            do throws(VolumeError) {
                result = try await volumes.plugin.expand(
                    key: VolumeNames.key(forVolumeID: request.volumeID), requiredBytes: required,
                    deadline: volumes.deadline)
            } catch {
                throw CSIError(error, context: "NodeExpandVolume of \(request.volumeID) at \(request.volumePath)")
            }
            PluginMetrics.phases(result.timings, operation: "expand")
            var response = Csi_V1_NodeExpandVolumeResponse()
            response.capacityBytes = Int64(clamping: result.deviceBytes)
            return response
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
}
