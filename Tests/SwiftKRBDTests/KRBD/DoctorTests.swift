// The doctor's CAP_SYS_ADMIN check: ok when the effective set has it, fail when it is known to
// be missing, warn when <proc>/self/status cannot tell.
import Foundation
import SystemPackage
import Testing

@testable import KRBD
@testable import LinuxSystem

@Suite struct DoctorTests {
    private func capabilityCheck(_ fake: FakeRBDKernel) throws -> DoctorCheck {
        try #require(fake.bus().doctor().first { $0.name == "CAP_SYS_ADMIN" })
    }

    @Test func capabilityPresentIsOK() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir, sysAdmin: true)
        #expect(try capabilityCheck(fake).verdict == .ok)
        #expect(ProcessIdentity.sysAdminCapability(proc: fake.proc) == true)
    }

    @Test func capabilityKnownMissingFails() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir, sysAdmin: false)
        let check = try capabilityCheck(fake)
        #expect(check.verdict == .fail)
        #expect(check.detail.hasPrefix("missing"))
        #expect(ProcessIdentity.sysAdminCapability(proc: fake.proc) == false)
    }

    @Test func missingStatusFileWarns() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try FileManager.default.removeItem(atPath: fake.proc.appending("self/status").string)
        let check = try capabilityCheck(fake)
        #expect(check.verdict == .warn)
        #expect(check.detail.hasPrefix("unknown") && check.detail.contains("self/status"))
        #expect(ProcessIdentity.sysAdminCapability(proc: fake.proc) == nil)
        // The callers that need a yes or no still read "not known to have it" as no.
        #expect(!ProcessIdentity.hasSysAdmin(proc: fake.proc))
    }

    @Test func unreadableStatusWarns() throws {
        // A directory where the file should be: read(2) fails (EISDIR) even for root.
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let status = fake.proc.appending("self/status").string
        try FileManager.default.removeItem(atPath: status)
        try FileManager.default.createDirectory(atPath: status, withIntermediateDirectories: false)
        #expect(try capabilityCheck(fake).verdict == .warn)
    }

    @Test func statusWithoutAMaskWarns() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try dir.write("proc/self/status", "Name:\tkrbd\nCapPrm:\t000001ffffffffff\n")
        #expect(try capabilityCheck(fake).verdict == .warn)
        try dir.write("proc/self/status", "Name:\tkrbd\nCapEff:\tnot-hex\n")
        #expect(try capabilityCheck(fake).verdict == .warn)
        #expect(ProcessIdentity.sysAdminCapability(proc: fake.proc) == nil)
    }
}
