// Requests that pass every check; each test breaks one field.
import CSI

enum Fixtures {
    static func capability(
        mount: Bool = true, mode: Csi_V1_VolumeCapability.AccessMode.Mode = .singleNodeWriter, flags: [String] = []
    ) -> Csi_V1_VolumeCapability {
        var capability = Csi_V1_VolumeCapability()
        if mount {
            var volume = Csi_V1_VolumeCapability.MountVolume()
            volume.fsType = "ext4"
            volume.mountFlags = flags
            capability.mount = volume
        } else {
            capability.block = Csi_V1_VolumeCapability.BlockVolume()
        }
        capability.accessMode.mode = mode
        return capability
    }

    static var stage: Csi_V1_NodeStageVolumeRequest {
        var request = Csi_V1_NodeStageVolumeRequest()
        request.volumeID = "0001-0009-rook-ceph-0000000000000002-4a2b"
        request.stagingTargetPath = "/var/lib/kubelet/plugins/kubernetes.io/csi/rbd.krbd.dev/abc/globalmount"
        request.volumeCapability = capability()
        request.secrets = ["userID": "csi-rbd-node", "userKey": "AQD9o0Fd6hQRChAAt7fMaSZXduT3NWEqylNpmg=="]
        request.volumeContext = ["clusterID": "rook-ceph", "pool": "replicapool"]
        return request
    }

    static var unstage: Csi_V1_NodeUnstageVolumeRequest {
        var request = Csi_V1_NodeUnstageVolumeRequest()
        request.volumeID = "vol-1"
        request.stagingTargetPath = "/var/lib/kubelet/staging/vol-1"
        return request
    }

    static var publish: Csi_V1_NodePublishVolumeRequest {
        var request = Csi_V1_NodePublishVolumeRequest()
        request.volumeID = "vol-1"
        request.stagingTargetPath = "/var/lib/kubelet/staging/vol-1"
        request.targetPath = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount"
        request.volumeCapability = capability()
        request.secrets = ["userKey": "AQD9o0Fd6hQRChAAt7fMaSZXduT3NWEqylNpmg=="]
        return request
    }

    static var unpublish: Csi_V1_NodeUnpublishVolumeRequest {
        var request = Csi_V1_NodeUnpublishVolumeRequest()
        request.volumeID = "vol-1"
        request.targetPath = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount"
        return request
    }

    static var stats: Csi_V1_NodeGetVolumeStatsRequest {
        var request = Csi_V1_NodeGetVolumeStatsRequest()
        request.volumeID = "vol-1"
        request.volumePath = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount"
        return request
    }

    static var expand: Csi_V1_NodeExpandVolumeRequest {
        var request = Csi_V1_NodeExpandVolumeRequest()
        request.volumeID = "vol-1"
        request.volumePath = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pv/mount"
        request.capacityRange.requiredBytes = 2 << 30
        request.secrets = ["userKey": "AQD9o0Fd6hQRChAAt7fMaSZXduT3NWEqylNpmg=="]
        return request
    }
}
