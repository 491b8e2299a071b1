import CSI
import Testing

@testable import KRBDCSI

@Suite struct RequestChecksTests {
    /// Runs `validate()` and returns the error it threw, recording an issue when it threw none.
    private func failure(_ request: some CSIRequest, sourceLocation: SourceLocation = #_sourceLocation) -> CSIError? {
        do {
            try request.validate()
            Issue.record("accepted \(request.logDescription)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    private func expectInvalid(
        _ request: some CSIRequest, _ message: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let error = failure(request, sourceLocation: sourceLocation) else { return }
        #expect(error.code == .invalidArgument, sourceLocation: sourceLocation)
        #expect(error.message == message, sourceLocation: sourceLocation)
    }

    @Test func completeRequestsPass() throws {
        try Fixtures.stage.validate()
        try Fixtures.unstage.validate()
        try Fixtures.publish.validate()
        try Fixtures.unpublish.validate()
        try Fixtures.stats.validate()
        try Fixtures.expand.validate()
        try Csi_V1_NodeGetInfoRequest().validate()
    }

    @Test func stage() {
        var request = Fixtures.stage
        request.volumeID = ""
        expectInvalid(request, "NodeStageVolume: volume_id is required")
        request = Fixtures.stage
        request.stagingTargetPath = ""
        expectInvalid(request, "NodeStageVolume: staging_target_path is required")
        request = Fixtures.stage
        request.stagingTargetPath = "relative/globalmount"
        expectInvalid(request, "NodeStageVolume: staging_target_path 'relative/globalmount' must be an absolute path")
        request = Fixtures.stage
        request.clearVolumeCapability()
        expectInvalid(request, "NodeStageVolume: volume_capability is required")
        request = Fixtures.stage
        request.volumeCapability.accessType = nil
        expectInvalid(request, "NodeStageVolume: volume_capability needs an access type (block or mount)")
        request = Fixtures.stage
        request.volumeCapability.clearAccessMode()
        expectInvalid(request, "NodeStageVolume: volume_capability.access_mode is required")
        request = Fixtures.stage
        request.volumeCapability.accessMode.mode = .unknown
        expectInvalid(request, "NodeStageVolume: volume_capability.access_mode.mode is required (got UNKNOWN)")
        request = Fixtures.stage
        request.volumeCapability.accessMode.mode = .UNRECOGNIZED(42)
        expectInvalid(request, "NodeStageVolume: volume_capability.access_mode.mode 42 is not a CSI access mode")
    }

    @Test func multiNodeWritersNeedBlock() throws {
        var request = Fixtures.stage
        request.volumeCapability = Fixtures.capability(mount: true, mode: .multiNodeMultiWriter)
        #expect(failure(request)?.message.contains("MULTI_NODE_MULTI_WRITER needs block access") == true)
        request.volumeCapability = Fixtures.capability(mount: false, mode: .multiNodeMultiWriter)
        try request.validate()
        for mode: Csi_V1_VolumeCapability.AccessMode.Mode in [
            .singleNodeWriter, .singleNodeReaderOnly, .multiNodeReaderOnly, .multiNodeSingleWriter,
            .singleNodeSingleWriter, .singleNodeMultiWriter,
        ] {
            request.volumeCapability = Fixtures.capability(mount: true, mode: mode)
            try request.validate()
        }
    }

    @Test func unstage() {
        var request = Fixtures.unstage
        request.volumeID = ""
        expectInvalid(request, "NodeUnstageVolume: volume_id is required")
        request = Fixtures.unstage
        request.stagingTargetPath = ""
        expectInvalid(request, "NodeUnstageVolume: staging_target_path is required")
    }

    @Test func publish() {
        var request = Fixtures.publish
        request.volumeID = ""
        expectInvalid(request, "NodePublishVolume: volume_id is required")
        request = Fixtures.publish
        request.targetPath = ""
        expectInvalid(request, "NodePublishVolume: target_path is required")
        request = Fixtures.publish
        request.clearVolumeCapability()
        expectInvalid(request, "NodePublishVolume: volume_capability is required")
        request = Fixtures.publish
        request.volumeCapability.clearAccessMode()
        expectInvalid(request, "NodePublishVolume: volume_capability.access_mode is required")
    }

    /// The spec's table gives FAILED_PRECONDITION, not INVALID_ARGUMENT, when STAGE_UNSTAGE_VOLUME is advertised.
    @Test func publishWithoutStagingPathIsAFailedPrecondition() {
        var request = Fixtures.publish
        request.stagingTargetPath = ""
        let error = failure(request)
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.hasPrefix("NodePublishVolume: staging_target_path is required") == true)
    }

    @Test func unpublish() {
        var request = Fixtures.unpublish
        request.volumeID = ""
        expectInvalid(request, "NodeUnpublishVolume: volume_id is required")
        request = Fixtures.unpublish
        request.targetPath = ""
        expectInvalid(request, "NodeUnpublishVolume: target_path is required")
    }

    @Test func stats() {
        var request = Fixtures.stats
        request.volumeID = ""
        expectInvalid(request, "NodeGetVolumeStats: volume_id is required")
        request = Fixtures.stats
        request.volumePath = ""
        expectInvalid(request, "NodeGetVolumeStats: volume_path is required")
        request = Fixtures.stats
        request.stagingTargetPath = "x"
        expectInvalid(request, "NodeGetVolumeStats: staging_target_path 'x' must be an absolute path")
    }

    @Test func expand() throws {
        var request = Fixtures.expand
        request.volumeID = ""
        expectInvalid(request, "NodeExpandVolume: volume_id is required")
        request = Fixtures.expand
        request.volumePath = ""
        expectInvalid(request, "NodeExpandVolume: volume_path is required")
        request = Fixtures.expand
        request.capacityRange.requiredBytes = -1
        expectInvalid(request, "NodeExpandVolume: capacity_range must not be negative")
        request = Fixtures.expand
        request.capacityRange.limitBytes = 1 << 30
        expectInvalid(
            request, "NodeExpandVolume: capacity_range.required_bytes 2147483648 exceeds limit_bytes 1073741824")
        // volume_capability is optional here, but checked when sent.
        request = Fixtures.expand
        request.volumeCapability = Fixtures.capability(mount: false)
        try request.validate()
        request.volumeCapability.clearAccessMode()
        expectInvalid(request, "NodeExpandVolume: volume_capability.access_mode is required")
    }
}
