// A NodeStageVolume request in the library's terms: ceph-csi's volume context and secrets (so that its
// StorageClasses and static PVs carry over) become an RBDVolumeSource and a VolumeSpec.
import CSI
import KRBD
import RBDVolume
import SystemPackage

/// What NodeStageVolume (and NodePublishVolume, for its mode and flags) asks the library for.
package struct VolumeRequest: Sendable {
    /// The journal key of the volume id (``RBDVolume/VolumeNames/key(forVolumeID:)``).
    package var key: String
    /// The volume as the library takes it; `name` is unused (the CO gives the paths).
    package var spec: VolumeSpec
    /// The image, for messages.
    package var image: ImageSpec
    /// The image's features as volume_context `imageFeatures` names them (ceph-csi's StorageClass key), checked
    /// against the kernel's before mapping; `nil` when not given.
    package var features: RBDFeatures?

    /// Parses a stage request against the node's clusters.
    ///
    /// - Throws: `CSIError` `.invalidArgument` naming the context key or secret, or for a capability that is
    ///   neither mount nor block; `.failedPrecondition` for a clusterID this node's `--cluster-config` does not
    ///   list.
    package init(stage request: Csi_V1_NodeStageVolumeRequest, clusters: ClusterConfig) throws(CSIError) {
        let rpc = Csi_V1_NodeStageVolumeRequest.rpcName
        let context = request.volumeContext
        func value(_ key: String) -> String? { context[key].flatMap { $0.isEmpty ? nil : $0 } }

        if let mounter = value("mounter"), mounter != "rbd" {
            throw CSIError(
                .invalidArgument,
                "\(rpc): volume_context mounter \"\(mounter)\" is not supported: krbd-csi maps with the kernel's rbd "
                    + "driver only (mounter \"rbd\"); serve rbd-nbd volumes with ceph-csi's node plugin")
        }
        let mount: Csi_V1_VolumeCapability.MountVolume?
        switch request.volumeCapability.accessType {
        case .mount(let volume)?: mount = volume
        case .block?: mount = nil
        case nil:
            throw CSIError(.invalidArgument, "\(rpc): volume_capability needs an access type (block or mount)")
        }
        guard let clusterID = value("clusterID") else {
            throw CSIError(
                .invalidArgument, "\(rpc): volume_context clusterID is required (ceph-csi's StorageClass key)")
        }
        guard let cluster = clusters.cluster(id: clusterID) else {
            throw CSIError(
                .failedPrecondition,
                "\(rpc): clusterID \"\(clusterID)\" is not in this node's --cluster-config; add its monitors there")
        }
        guard let pool = value("pool") else {
            throw CSIError(.invalidArgument, "\(rpc): volume_context pool is required")
        }
        let isStatic = try Self.flag(value("staticVolume"), "staticVolume", rpc)
        let imageName: String
        if let name = value("imageName") {
            imageName = name
        } else if isStatic {
            imageName = request.volumeID  // a static PV's volumeHandle is the image's name
        } else {
            throw CSIError(
                .invalidArgument,
                "\(rpc): volume_context imageName is required (ceph-csi's provisioner sets it) unless staticVolume is "
                    + "\"true\" (then volume_id is the image)")
        }
        if let text = value("imageFeatures") {
            do {
                features = try RBDFeatures(parsing: text)
            } catch {
                throw CSIError(.invalidArgument, "\(rpc): volume_context imageFeatures: \(error.message)", cause: error)
            }
        }
        let namespace = value("radosNamespace") ?? cluster.radosNamespace
        do {
            image = try ImageSpec(pool: pool, namespace: namespace.isEmpty ? nil : namespace, image: imageName)
        } catch {
            throw CSIError(
                .invalidArgument, "\(rpc): volume_context names no valid image: \(error.message)", cause: error)
        }

        var options = MapOptions()
        if let text = Self.krbdOptions(value("mapOptions")) {
            do {
                options = try MapOptions(parsing: text)
            } catch {
                throw CSIError(.invalidArgument, "\(rpc): volume_context mapOptions: \(error.message)", cause: error)
            }
        }
        if let unmap = Self.krbdOptions(value("unmapOptions")) {
            throw CSIError(
                .invalidArgument,
                "\(rpc): volume_context unmapOptions \"\(unmap)\" are not supported: krbd-csi unmaps only what no one "
                    + "uses, after waiting out transient openers; remove the key")
        }

        let user = request.secrets["userID"] ?? ""
        let key = request.secrets["userKey"] ?? ""
        guard !user.isEmpty, !key.isEmpty else {
            throw CSIError(
                .invalidArgument,
                "\(rpc): secrets userID and userKey are required (ceph-csi's node-stage secret: "
                    + "csi.storage.k8s.io/node-stage-secret-name in the StorageClass)")
        }
        let credentials: CephCredentials
        do {
            credentials = try CephCredentials(user: user, secret: CephSecret(base64: key))
        } catch {
            // RBDError's message never holds the key.
            throw CSIError(.invalidArgument, "\(rpc): secrets userID/userKey: \(error.message)", cause: error)
        }

        let mode = request.volumeCapability.accessMode.mode
        let readOnly = mode == .singleNodeReaderOnly || mode == .multiNodeReaderOnly
        // krbd-csi's own key: the kernel's exclusive lock, held for the mapping's life, keeps a second node from
        // writing the image, and also keeps a provisioner's `rbd resize` out while the volume is staged (EROFS):
        // "none" trades the fence for online expansion.
        // A multi-node writer (block only, as RequestChecks holds) is shared on purpose: its writers coordinate
        // themselves (a clustered filesystem, a VM's live migration), so it maps unfenced, as ceph-csi does.
        let sharedWriter = mode == .multiNodeMultiWriter
        let fencing: Fencing
        if let text = value("fencing") {
            guard let chosen = Fencing(rawValue: text) else {
                throw CSIError(
                    .invalidArgument,
                    "\(rpc): volume_context fencing \"\(text)\": use exclusiveLock, requireExclusiveLock or none")
            }
            if sharedWriter && chosen != .none {
                throw CSIError(
                    .invalidArgument,
                    "\(rpc): volume_context fencing \"\(text)\" keeps all but one node from writing, and the access "
                        + "mode is MULTI_NODE_MULTI_WRITER; use fencing \"none\" (or remove it) for a shared volume")
            }
            fencing = chosen
        } else {
            fencing = sharedWriter ? .none : .exclusiveLock
        }
        let source = RBDVolumeSource(
            image: image, monitors: cluster.monitors, credentials: credentials, options: options, fencing: fencing)
        guard let mount else {
            // Block: the device itself, bound onto a file in the staging directory; nothing to format or mount.
            var spec = VolumeSpec(name: "csi", source: source, readOnly: readOnly)
            spec.access = .block
            spec.mayFormat = false
            self.key = VolumeNames.key(forVolumeID: request.volumeID)
            self.spec = spec
            return
        }
        let fsType = mount.fsType.isEmpty ? "ext4" : mount.fsType
        var flags = mount.mountFlags
        // As ceph-csi: a clone or snapshot of an xfs volume has its parent's UUID, which xfs refuses to mount twice.
        if fsType == "xfs", !flags.contains(where: { $0.split(separator: ",").contains("nouuid") }) {
            flags.append("nouuid")
        }
        var spec = VolumeSpec(name: "csi", source: source, fsType: fsType, readOnly: readOnly, mountOptions: flags)
        spec.formatOptions =
            value("mkfsOptions").map { $0.split(whereSeparator: \.isWhitespace).map(String.init) } ?? []
        spec.mayFormat = !isStatic
        self.key = VolumeNames.key(forVolumeID: request.volumeID)
        self.spec = spec
    }

    /// `"true"` / `"false"` (absent: false).
    static func flag(_ text: String?, _ key: String, _ rpc: String) throws(CSIError) -> Bool {
        switch text {
        case nil, "false": return false
        case "true": return true
        case let other?:
            throw CSIError(.invalidArgument, "\(rpc): volume_context \(key) is \"\(other)\"; use \"true\" or \"false\"")
        }
    }

    /// The krbd part of ceph-csi's map/unmap options: either a plain `a,b=c` list, or
    /// `krbd:a,b=c;nbd:d` (the `nbd:` part is for rbd-nbd and ignored); `nil` when nothing is left.
    static func krbdOptions(_ text: String?) -> String? {
        guard let text else { return nil }
        let parts = text.split(separator: ";", omittingEmptySubsequences: true)
        let tagged = parts.contains { $0.hasPrefix("krbd:") || $0.hasPrefix("nbd:") }
        let plain: Substring? =
            tagged ? parts.first { $0.hasPrefix("krbd:") }.map { $0.dropFirst("krbd:".count) } : Substring(text)
        guard let plain else { return nil }
        let trimmed = plain.trimmingPrefix(while: \.isWhitespace)
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}
