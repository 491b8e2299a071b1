import Foundation
import SystemPackage
import Testing

@testable import LinuxSystem

@Suite struct MockingTests {
    @Test func traceNamesThePathOfFdBasedCalls() throws {
        let dir = try TemporaryDirectory()
        let control = try dir.write("bus/rbd/add_single_major", "")
        try MockingDriver.with { driver in
            try Files.writeControl(control, Array("1.2.3.4 name=a rbd img".utf8))
            let writes = driver.calls("write", pathContains: "add_single_major")
            #expect(writes.count == 1)
            #expect(writes.first?.arguments == ["1.2.3.4 name=a rbd img", "count=22"])
        }
        #expect(try dir.read("bus/rbd/add_single_major") == "1.2.3.4 name=a rbd img")
    }

    @Test func attributesAreReadInOneSyscallAndComparedInPlace() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("devices/0/name", "plain\n").string
        let (text, reads) = try MockingDriver.with { driver throws in
            (try Files.readAttribute(path), driver.calls("read").count)
        }
        #expect(text == "plain" && reads == 1)
        #expect(Files.attribute(path, equals: "plain") == true)
        #expect(Files.attribute(path, equals: "plai") == false)
        #expect(Files.attribute(path, equals: "plain\n") == false)
        #expect(Files.attribute(dir("devices/0/missing").string, equals: "") == nil)
        let empty = try dir.write("devices/0/pool_ns", "\n").string
        #expect(Files.attribute(empty, equals: "") == true)
    }

    @Test func traceRedactsSecretValues() {
        #expect(redactingSecrets("m name=a,secret=QUJD==,ro rbd i") == "m name=a,secret=<redacted>,ro rbd i")
        #expect(redactingSecrets("m secret=QUJD rbd i\n") == "m secret=<redacted> rbd i\n")
        #expect(redactingSecrets("a secret=x,secret=y") == "a secret=<redacted>,secret=<redacted>")
        #expect(redactingSecrets("no secrets here") == "no secrets here")
        #expect(redactingSecrets("secret=") == "secret=<redacted>")
        #expect(redactingSecrets("ends in secret=abc") == "ends in secret=<redacted>")
        #expect(redactingSecrets("ssecret=ab cd") == "ssecret=<redacted> cd")
        #expect(
            redactingSecrets("secret") == "secret" && redactingSecrets("secre=t") == "secre=t"
                && redactingSecrets("") == "")
    }

    @Test func forcedErrnoSurfacesAsSyscallError() throws {
        let dir = try TemporaryDirectory()
        let control = try dir.write("bus/rbd/remove_single_major", "")
        MockingDriver.with { driver in
            driver.fail("write", pathContains: "remove_single_major", times: 1, with: .resourceBusy)
            #expect(throws: SyscallError("write", path: control, errno: .resourceBusy)) {
                try Files.writeControl(control, Array("0".utf8))
            }
            // The rule was used up: the second write goes through.
            #expect(throws: Never.self) { try Files.writeControl(control, Array("0".utf8)) }
        }
    }

    @Test func shortControlWriteIsAnError() throws {
        let dir = try TemporaryDirectory()
        let control = try dir.write("add", "")
        MockingDriver.with { driver in
            driver.on("write") { _ in .succeed(3) }
            #expect(throws: SyscallError("write", path: control, errno: .ioError)) {
                try Files.writeControl(control, Array("0 force".utf8))
            }
        }
    }

    @Test func atomicWriteLeavesOldContentWhenRenameFails() throws {
        let dir = try TemporaryDirectory()
        let journal = try dir.write("j.json", "old")
        MockingDriver.with { driver in
            driver.fail("renameat", with: .ioError)
            #expect(throws: SyscallError.self) { try Files.writeAtomically(journal, Array("new".utf8)) }
        }
        #expect(try dir.read("j.json") == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path.string) == ["j.json"])
        try Files.writeAtomically(journal, Array("new".utf8))
        #expect(try dir.read("j.json") == "new")
        let mode = try FileManager.default.attributesOfItem(atPath: journal.string)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func fileLockTimesOutWhileAnotherHolderHasIt() throws {
        let dir = try TemporaryDirectory()
        let lock = dir("lock")
        let fd = open(lock.string, O_RDWR | O_CREAT, 0o600)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        let failure = #expect(throws: LockFailure<Never>.self) {
            try FileLock.withLock(lock, timeout: .milliseconds(30)) {}
        }
        guard case .lock(let cause)? = failure else {
            Issue.record("the lock, not the body, must fail")
            return
        }
        #expect(cause == SyscallError("flock", path: lock, errno: .timedOut))
        flock(fd, LOCK_UN)
        #expect(try FileLock.withLock(lock, timeout: .milliseconds(30)) { 42 } == 42)
    }

    @Test func subprocessCapturesOutputAndExitCode() throws {
        let ok = try Subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(ok.exitCode == 3)
        #expect(ok.output.contains("out") && ok.output.contains("err"))
        let slow = try Subprocess.run(["sleep", "5"], timeout: .milliseconds(100))
        #expect(slow.timedOut && slow.signal == SIGKILL)
        #expect(throws: SyscallError.self) { try Subprocess.run(["no-such-tool-krbd"]) }
    }

    @Test func kernelVersionParsing() {
        #expect(KernelVersion(release: "6.1.0-27-amd64") == KernelVersion(major: 6, minor: 1, patch: 0))
        #expect(KernelVersion(release: "5.11")! < KernelVersion(major: 5, minor: 17))
        #expect(KernelVersion(release: "garbage") == nil)
    }
}
