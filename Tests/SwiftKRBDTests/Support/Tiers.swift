// The three test tiers and their gates. A tier that was asked for must run: asking for it
// without the means to run it fails `tiersThatWereAskedForCanRun` instead of skipping quietly.
import Foundation
import Testing

enum Tier {
    static let environment = ProcessInfo.processInfo.environment

    /// `KRBD_PRIVILEGED_TESTS=1`: run the root tier (loop devices, mount(2)).
    static var privilegedRequested: Bool { environment["KRBD_PRIVILEGED_TESTS"] == "1" }
    /// `KRBD_SANDBOX=1`: set by `scripts/sandbox` inside the guest (real rbd.ko + Ceph).
    static var sandboxRequested: Bool { environment["KRBD_SANDBOX"] == "1" }
    static var isRoot: Bool { geteuid() == 0 }

    static var privileged: Bool { privilegedRequested && isRoot }
    static var sandbox: Bool { sandboxRequested && isRoot }
}

extension Trait where Self == ConditionTrait {
    /// Root and `KRBD_PRIVILEGED_TESTS=1`: real loop devices and mounts on this machine.
    static var privileged: Self {
        .enabled(if: Tier.privileged, "privileged tier: needs root and KRBD_PRIVILEGED_TESTS=1")
    }

    /// Inside the sandbox guest: real rbd.ko and a real Ceph cluster (`scripts/sandbox`).
    static var sandbox: Self {
        .enabled(if: Tier.sandbox, "VM tier: runs inside `scripts/sandbox run` (KRBD_SANDBOX=1, root)")
    }
}

@Suite struct TierGates {
    @Test func tiersThatWereAskedForCanRun() {
        if Tier.privilegedRequested {
            #expect(Tier.isRoot, "KRBD_PRIVILEGED_TESTS=1 but not root: the privileged tier cannot run")
        }
        if Tier.sandboxRequested {
            #expect(Tier.isRoot, "KRBD_SANDBOX=1 but not root: the VM tier cannot run")
            #expect(FileManager.default.fileExists(atPath: "/sys/bus/rbd"), "KRBD_SANDBOX=1 but no /sys/bus/rbd")
        }
    }
}
