import CSI
import Foundation
import GRPCCore
import KRBD
import Testing

@testable import KRBDCSI

@Suite struct ServicesTests {
    /// A temp directory removed when `body` returns.
    private func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let path = NSTemporaryDirectory() + "krbdcsi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    @Test func readinessFollowsTheBus() throws {
        try withTemporaryDirectory { root in
            let sysfs = root + "/sys"
            try FileManager.default.createDirectory(atPath: sysfs + "/bus/rbd", withIntermediateDirectories: true)
            #expect(RBDReadiness(sysfs: sysfs, modulesRoot: root + "/none").problem() == nil)
            try FileManager.default.removeItem(atPath: sysfs + "/bus/rbd")
            let problem = RBDReadiness(sysfs: sysfs, modulesRoot: root + "/none").problem()
            #expect(problem?.hasPrefix("rbd module: not loaded and") == true)
        }
    }

    @Test func deviceLimit() throws {
        #expect(RBDDeviceLimit.singleMajor == 65536)
        #expect(RBDDeviceLimit.maxVolumes(singleMajor: "Y\n") == 65536)
        #expect(RBDDeviceLimit.maxVolumes(singleMajor: nil) == 65536)
        #expect(RBDDeviceLimit.maxVolumes(singleMajor: "N\n") == 0)
        try withTemporaryDirectory { root in
            let parameters = root + "/module/rbd/parameters"
            try FileManager.default.createDirectory(atPath: parameters, withIntermediateDirectories: true)
            try "N\n".write(toFile: parameters + "/single_major", atomically: true, encoding: .utf8)
            #expect(RBDDeviceLimit.maxVolumes(sysfs: root) == 0)
        }
    }

    @Test func nodeAnswers() throws {
        let state = NSTemporaryDirectory() + "krbd-csi-services-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let node = NodeService(
            nodeID: "worker-1", maxVolumesPerNode: 65536, clusters: ClusterConfig(clusters: []),
            volumes: try NodeVolumes(
                stateDirectory: state, bus: RBDBus(sysfs: "/nonexistent"), logger: CapturedLog().logger),
            log: RPCLog(logger: CapturedLog().logger))
        #expect(node.info.nodeID == "worker-1")
        #expect(node.info.maxVolumesPerNode == 65536)
        #expect(!node.info.hasAccessibleTopology)
        #expect(
            node.capabilitiesResponse.capabilities.map(\.rpc.type) == [
                .stageUnstageVolume, .getVolumeStats, .volumeCondition, .expandVolume, .singleNodeMultiWriter,
            ])
    }

    @Test func identityAnswers() {
        let identity = IdentityService(
            driverName: "rbd.krbd.dev", readiness: RBDReadiness(), log: RPCLog(logger: CapturedLog().logger))
        #expect(identity.info.name == "rbd.krbd.dev")
        #expect(identity.info.vendorVersion == PluginVersion.current)
    }

    @Test func libraryErrorsMapToCSICodes() {
        let cases: [(RBDError.Code, RPCError.Code)] = [
            (.invalidSpec, .invalidArgument), (.notFound, .notFound), (.moduleUnavailable, .failedPrecondition),
            (.unsupportedFeatures, .failedPrecondition), (.authenticationFailed, .permissionDenied),
            (.timedOut, .deadlineExceeded), (.lockHeld, .aborted), (.busy, .aborted), (.systemError, .internalError),
        ]
        for (library, grpc) in cases {
            let error = CSIError(RBDError(library, "x"), context: "map of rbd/img")
            #expect(RPCError(error).code == grpc, "\(library)")
            #expect(error.message == "map of rbd/img: x")
        }
    }
}
