import CSI
import BlockMount
import KRBD
import RBDVolume
import Testing

@testable import KRBDCSI

/// ceph-csi's volume context and secrets, read as the library's volume; library errors as CSI codes.
@Suite struct VolumeRequestTests {
    let clusters = ClusterConfig(clusters: [
        CephCluster(id: "rook-ceph", monitors: [try! MonitorAddress(parsing: "10.0.0.1:6789")], radosNamespace: "ns-a")
    ])

    func parse(_ change: (inout Csi_V1_NodeStageVolumeRequest) -> Void = { _ in }) throws(CSIError) -> VolumeRequest {
        var request = Fixtures.stage
        request.volumeContext["imageName"] = "csi-vol-4a2b"
        change(&request)
        return try VolumeRequest(stage: request, clusters: clusters)
    }

    func failure(_ change: (inout Csi_V1_NodeStageVolumeRequest) -> Void) -> CSIError? {
        do {
            let parsed = try parse(change)
            Issue.record("accepted: \(parsed.spec)")
            return nil
        } catch {
            return error
        }
    }

    @Test func aDynamicVolume() throws {
        let volume = try parse()
        let source = try #require(volume.spec.source as? RBDVolumeSource)
        #expect(source.image == (try ImageSpec(pool: "replicapool", namespace: "ns-a", image: "csi-vol-4a2b")))
        #expect(source.monitors.map(\.description) == ["v1:10.0.0.1:6789"])
        #expect(source.credentials.user == "csi-rbd-node")
        #expect(source.fencing == .exclusiveLock)
        #expect(volume.spec.fsType == "ext4" && !volume.spec.readOnly && volume.spec.mayFormat)
        #expect(volume.key == VolumeNames.key(forVolumeID: "0001-0009-rook-ceph-0000000000000002-4a2b"))
        // The key never depends on the secret, and the spec's description never shows it.
        #expect(!"\(volume.spec)".contains("AQD9o0Fd"))
    }

    @Test func aStaticVolumeIsItsVolumeIDAndNeverFormatted() throws {
        let volume = try parse {
            $0.volumeContext["imageName"] = nil
            $0.volumeContext["staticVolume"] = "true"
            $0.volumeID = "static-image"
        }
        #expect((volume.spec.source as? RBDVolumeSource)?.image.image == "static-image")
        #expect(!volume.spec.mayFormat)
    }

    @Test func contextKeysCarryOver() throws {
        let volume = try parse {
            $0.volumeContext["radosNamespace"] = "other"
            $0.volumeContext["mapOptions"] = "krbd:queue_depth=128,alloc_size=65536;nbd:try-netlink"
            $0.volumeContext["mkfsOptions"] = "-m0  -E nodiscard"
            $0.volumeContext["mounter"] = "rbd"
            $0.volumeCapability = Fixtures.capability(mode: .multiNodeReaderOnly, flags: ["noatime"])
        }
        let source = try #require(volume.spec.source as? RBDVolumeSource)
        #expect(source.image.namespace == "other")
        #expect(source.options.queueDepth == 128)
        #expect(volume.spec.formatOptions == ["-m0", "-E", "nodiscard"])
        #expect(volume.spec.readOnly && volume.spec.mountOptions == ["noatime"])
    }

    @Test func aBlockVolumeIsNeverFormattedOrMounted() throws {
        let volume = try parse {
            $0.volumeCapability = Fixtures.capability(mount: false)
            $0.volumeContext["mkfsOptions"] = "-m0"  // a StorageClass shared with Filesystem PVCs: not for block
        }
        #expect(volume.spec.access == .block && !volume.spec.mayFormat)
        #expect(volume.spec.mountOptions.isEmpty && volume.spec.formatOptions.isEmpty)
        #expect((volume.spec.source as? RBDVolumeSource)?.fencing == .exclusiveLock)
        let shared = try parse { $0.volumeCapability = Fixtures.capability(mount: false, mode: .multiNodeMultiWriter) }
        #expect((shared.spec.source as? RBDVolumeSource)?.fencing == Fencing.none)
    }

    @Test func imageFeaturesAreParsed() throws {
        let volume = try parse { $0.volumeContext["imageFeatures"] = "layering, exclusive-lock,,deep-flatten" }
        #expect(volume.features == [.layering, .exclusiveLock, .deepFlatten])
        #expect(try parse().features == nil)
    }

    @Test func mapOptionForms() {
        #expect(VolumeRequest.krbdOptions("a,b=1") == "a,b=1")
        #expect(VolumeRequest.krbdOptions("krbd:a;nbd:b") == "a")
        #expect(VolumeRequest.krbdOptions("nbd:b") == nil)
        #expect(VolumeRequest.krbdOptions("") == nil)
        #expect(VolumeRequest.krbdOptions(nil) == nil)
    }

    @Test func refusals() {
        let cases: [(CSIError.Code, String, (inout Csi_V1_NodeStageVolumeRequest) -> Void)] = [
            (.failedPrecondition, "is not in this node's --cluster-config", { $0.volumeContext["clusterID"] = "x" }),
            (.invalidArgument, "clusterID is required", { $0.volumeContext["clusterID"] = nil }),
            (.invalidArgument, "pool is required", { $0.volumeContext["pool"] = "" }),
            (.invalidArgument, "imageName is required", { $0.volumeContext["imageName"] = nil }),
            (.invalidArgument, "rbd-nbd", { $0.volumeContext["mounter"] = "rbd-nbd" }),
            (.invalidArgument, "staticVolume", { $0.volumeContext["staticVolume"] = "1" }),
            (.invalidArgument, "unmapOptions", { $0.volumeContext["unmapOptions"] = "krbd:force" }),
            (.invalidArgument, "mapOptions", { $0.volumeContext["mapOptions"] = "bogus=1" }),
            (.invalidArgument, "userID and userKey", { $0.secrets = [:] }),
            (.invalidArgument, "userID/userKey", { $0.secrets["userKey"] = "%%%" }),
            (
                .invalidArgument, "unknown image feature \"bogus\"",
                { $0.volumeContext["imageFeatures"] = "layering,bogus" }
            ),
            (
                .invalidArgument, "MULTI_NODE_MULTI_WRITER",
                {
                    $0.volumeCapability = Fixtures.capability(mount: false, mode: .multiNodeMultiWriter)
                    $0.volumeContext["fencing"] = "exclusiveLock"
                }
            ),
        ]
        for (code, text, change) in cases {
            guard let error = failure(change) else { continue }
            #expect(error.code == code, "\(text): \(error)")
            #expect(error.message.contains(text), "\(error.message)")
            #expect(!error.message.contains("AQD9o0Fd"))
        }
    }

    @Test func libraryCodesMapByCodeNeverByText() {
        func code(_ error: VolumeError, inUse: CSIError.Code = .failedPrecondition) -> CSIError.Code {
            CSIError(error, context: "ctx", inUse: inUse).code
        }
        #expect(code(VolumeError(.invalidArgument, "x")) == .invalidArgument)
        #expect(code(VolumeError(.notFound, "x")) == .notFound)
        #expect(code(VolumeError(.notAttached, "x")) == .failedPrecondition)
        #expect(code(VolumeError(.refusedFormat, "x")) == .failedPrecondition)
        #expect(code(VolumeError(.inUse, "x")) == .failedPrecondition)
        #expect(code(VolumeError(.inUse, "x"), inUse: .alreadyExists) == .alreadyExists)
        #expect(code(VolumeError(.lockTimeout, "x")) == .aborted)
        #expect(code(VolumeError(.cancelled, "x")) == .aborted)
        #expect(code(VolumeError(.journal, "x")) == .internalError)
        // The layer below decides for device and mount failures.
        let lock = VolumeError(.device, "map failed", cause: .rbd(RBDError(.lockHeld, "held")))
        #expect(code(lock) == .aborted)
        let missing = VolumeError(.device, "map failed", cause: .rbd(RBDError(.notFound, "no image")))
        #expect(code(missing) == .notFound)
        #expect(code(VolumeError(.mount, "umount failed", cause: .mount(MountError(.busy, "held")))) == .aborted)
        // A mount failure without a MountError underneath.
        #expect(code(VolumeError(.mount, "mount failed")) == .internalError)
        // A failed call of the lifecycle's own stays in the message, after the RPC's context.
        let journal = VolumeError(
            .journal, "cannot read the attachment journal", cause: .system(SystemCallError("open", errno: .ioError)))
        #expect(code(journal) == .internalError)
        #expect(
            CSIError(journal, context: "c").message
                == "c: cannot read the attachment journal: open: Input/output error (errno 5)")
        // The message keeps the library's text, after the RPC's context.
        #expect(CSIError(lock, context: "NodeStageVolume of v").message == "NodeStageVolume of v: map failed")
    }
}
