// Image features named by the caller (CSI's imageFeatures) against the kernel's supported_features.
import Foundation
import SystemPackage
import Testing

@testable import KRBD

@Suite struct FeatureCheckTests {
    @Test func namesParseAsRBDPrintsThem() throws {
        #expect(
            try RBDFeatures(parsing: "layering, exclusive-lock,,object-map ") == [
                .layering, .exclusiveLock, .objectMap,
            ])
        #expect(try RBDFeatures(parsing: "") == [])
        #expect(try RBDFeatures(parsing: "striping,journaling").names == ["striping", "journaling"])
        #expect(throws: RBDError.self) { try RBDFeatures(parsing: "layering,exclusive_lock") }
    }

    @Test func featuresTheKernelLacksAreRefusedBeforeAnyWrite() throws {
        let dir = try TemporaryDirectory()
        // 0x3d: layering, exclusive-lock, object-map, fast-diff, deep-flatten; no journaling.
        let fake = try FakeRBDKernel(in: dir, supportedFeatures: "0x000000000000003d")
        let bus = fake.bus()
        let image = try ImageSpec(pool: "rbd", image: "vm-disk")
        #expect(bus.kernelFeatures() == [.layering, .exclusiveLock, .objectMap, .fastDiff, .deepFlatten])
        try bus.requireSupported([.layering, .exclusiveLock, .objectMap], of: image)
        do {
            try bus.requireSupported([.layering, .journaling], of: image)
            Issue.record("journaling accepted")
        } catch {
            #expect(error.code == .unsupportedFeatures)
            #expect(error.message.contains("does not support journaling"), "\(error.message)")
            #expect(error.message.contains("rbd feature disable rbd/vm-disk journaling"), "\(error.message)")
        }
        #expect(fake.ids().isEmpty)
    }

    @Test func unknownKernelFeaturesLeaveTheAnswerToTheKernel() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try FileManager.default.removeItem(atPath: fake.sysfs.appending("bus/rbd/supported_features").string)
        let bus = fake.bus()
        #expect(bus.kernelFeatures() == nil)
        try bus.requireSupported([.journaling], of: try ImageSpec(pool: "rbd", image: "x"))
    }
}
