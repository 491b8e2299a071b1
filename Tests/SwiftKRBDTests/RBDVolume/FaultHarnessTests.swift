// The fault-injection harness checked on its own: a clean run of every operation keeps every
// invariant, each invariant sees the violation it guards against, a crash freezes the node, and
// the fake kernel refuses what the kernel refuses. Without these, a suite that finds nothing
// could be a suite that looks at nothing.
import Foundation
import SystemPackage
import Testing

@testable import KRBD
@testable import LinuxSystem
@testable import RBDVolume

@Suite struct FaultHarnessTests {
    @Test(arguments: FaultOperation.all)
    func aCleanRunKeepsEveryInvariant(_ operation: FaultOperation) throws {
        let node = try FakeNode(transport: operation.transport)
        try operation.prepare(node)
        let start = try node.snapshot()
        let steps = try FaultRunner.steps(of: operation, on: node, from: start)
        #expect(steps.contains { $0.kind == .change })
        #expect(operation.done(node).isEmpty, "\(operation.name): \(operation.done(node))")
        let clean = try FaultRunner.run(operation, .none, on: node, from: start)
        #expect(clean.violations.isEmpty, "\(operation.name): \(clean.violations)")
    }

    @Test func theInvariantsSeeWhatTheyGuardAgainst() throws {
        let node = try FakeNode()
        try node.run("attach") { _ = try $0.attach(node.spec) }
        #expect(node.violations(afterRepair: true).isEmpty)
        let attached = try node.snapshot()

        try FileManager.default.removeItem(atPath: node.journalPath)
        let unrecorded = node.violations(afterRepair: false)
        #expect(unrecorded.contains { $0.hasPrefix("invariant 1:") }, "\(unrecorded)")
        #expect(unrecorded.contains { $0.hasPrefix("invariant 2:") }, "\(unrecorded)")

        try node.restore(attached)
        node.kernel.removeDevice(0)
        #expect(!node.violations(afterRepair: false).contains { $0.hasPrefix("invariant 3:") })
        #expect(node.violations(afterRepair: true).contains { $0.hasPrefix("invariant 3:") })

        try node.restore(attached)
        try Data("{\"secret\": \"\(testKey)\"}".utf8).write(to: URL(fileURLWithPath: node.journalPath))
        #expect(node.violations(afterRepair: false).contains { $0.hasPrefix("invariant 5:") })
        #expect(leaksSecret("key=\(testKey.dropLast(2))") && !leaksSecret("key=client.admin"))

        try node.restore(attached)
        node.plugin.host.logger.trace("mapped", metadata: ["request": "name=admin,secret=\(testKey)"])
        #expect(node.violations(afterRepair: false).contains { $0.hasPrefix("invariant 5: a log line") })
    }

    /// mkfs over a filesystem, and mkfs on a blank device nobody probed: both are violations.
    @Test(arguments: [true, false])
    func mkfsWithoutProofIsSeen(formatted: Bool) throws {
        let node = try FakeNode()
        if formatted { node.formatImage() }
        let id = node.kernel.addDevice(image: FakeNode.imageName)
        let device = node.kernel.dev.appending("rbd\(id)").string
        try node.run("mkfs") { _ in _ = try Subprocess.run(["mkfs.ext4", device]) }
        let found = node.violations(afterRepair: false).filter { $0.hasPrefix("invariant 4:") }
        #expect(found.count == 1)
        #expect(found.first?.contains(formatted ? "over an existing filesystem" : "without a probe") == true)
    }

    @Test func aCrashFreezesTheNode() throws {
        let node = try FakeNode()
        let start = try node.snapshot()
        let steps = try FaultRunner.steps(of: .attachBlank, on: node, from: start)
        let add = try #require(steps.first { $0.name == "write" && $0.path?.contains("/bus/rbd/add") == true })
        try node.restore(start)
        let plan = FaultPlan(.crash(add))
        #expect(throws: VolumeError.self) {
            try node.run("attach", steer: { plan.steer($0, on: node) }) { _ = try $0.attach(node.spec) }
        }
        // Nothing ran from the add write on: no mapping, and the rollback could not remove the
        // journal's `attaching` record either.
        // (Matched by call and path: the numbering of a run from a restored snapshot can differ
        // from the clean run's by directories made on first use, such as the lock directory.)
        #expect(plan.hit?.name == "write" && plan.hit?.path?.contains("/bus/rbd/add") == true)
        #expect(node.mappedIDs().isEmpty)
        #expect(try node.record()?.phase == .attaching)
    }

    @Test func theFakeKernelRefusesWhatTheKernelRefuses() throws {
        let node = try FakeNode()
        try node.run("attach") { _ = try $0.attach(node.spec) }
        let remove = node.kernel.sysfs.appending("bus/rbd/remove_single_major").string
        func call(_ name: String, _ path: String, _ arguments: [String]) -> MockOutcome {
            node.answer(MockCall(name: name, path: path, arguments: arguments))
        }
        // A mounted device is busy; force removes it anyway (the mount then is stale).
        guard case .fail(.resourceBusy) = call("write", remove, ["0", "count=1"]) else {
            Issue.record("removing a mounted device must fail with EBUSY")
            return
        }
        guard case .succeed = call("write", remove, ["0 force", "count=7"]) else {
            Issue.record("a forced remove must succeed")
            return
        }
        #expect(node.mappedIDs().isEmpty && node.topMount(at: node.globalPath) != nil)
        // A blank image cannot be mounted; an unmapped device cannot either.
        let blank = try FakeNode()
        let id = blank.kernel.addDevice(image: FakeNode.imageName)
        let device = blank.kernel.dev.appending("rbd\(id)").string
        let target = blank.nodeRoot.string
        guard
            case .fail(.invalidArgument) = blank.answer(
                MockCall(name: "mount", path: target, arguments: [device, "ext4", "flags=0", "NULL"]))
        else {
            Issue.record("mounting a blank device must fail with EINVAL")
            return
        }
    }
}
