import Foundation
import SystemPackage
import Testing

@testable import LinuxSystem

/// The EINTR policy of `valueOrErrno` and the errno branches reached through the mock hooks of
/// the process, directory, identity and time wrappers.
@Suite struct SyscallLayerTests {
    @Test func valueOrErrnoRetriesInterruptsOnlyWhenAsked() {
        for retry in [true, false] {
            var calls = 0
            let result = valueOrErrno(retryOnInterrupt: retry) { () -> CInt in
                calls += 1
                if calls == 1 {
                    errno = EINTR
                    return -1
                }
                return 7
            }
            if retry {
                #expect(calls == 2 && (try? result.get()) == 7)
            } else {
                #expect(calls == 1 && result.errno == .interrupted)
            }
        }
        let failed = valueOrErrno(retryOnInterrupt: true) { () -> Int in
            errno = ENOENT
            return -1
        }
        #expect(throws: SyscallError("open", path: "/x", errno: .noSuchFileOrDirectory)) {
            try failed.get("open", path: "/x")
        }
    }

    @Test func readsRetryInterruptsAndControlWritesDoNot() throws {
        let dir = try TemporaryDirectory()
        let file = try dir.write("attr", "value\n")
        try MockingDriver.with { driver throws in
            driver.fail("read", times: 1, with: .interrupted)
            #expect(try Files.readAttribute(file) == "value")
            #expect(driver.calls("read").count == 2)

            driver.fail("write", times: 1, with: .interrupted)
            #expect(throws: SyscallError("write", path: file, errno: .interrupted)) {
                try Files.writeControl(file, Array("cmd".utf8))
            }
            #expect(driver.calls("write").count == 1)
        }
    }

    @Test func subprocessPipeFailureIsTheError() {
        MockingDriver.with { driver in
            driver.fail("pipe2", with: .tooManyOpenFiles)
            #expect(throws: SyscallError("pipe2", errno: .tooManyOpenFiles)) {
                try Subprocess.run(["sh", "-c", "exit 0"])
            }
            #expect(driver.calls("posix_spawn").isEmpty)
        }
    }

    @Test func subprocessWaitAndPollRetryInterrupts() throws {
        try MockingDriver.with { driver throws in
            driver.fail("waitpid", times: 1, with: .interrupted)
            driver.fail("poll", times: 2, with: .interrupted)
            let result = try Subprocess.run(["sh", "-c", "echo hi; exit 3"])
            #expect(result.exitCode == 3 && result.output == "hi\n")
            #expect(driver.calls("waitpid").count == 2)
            #expect(driver.calls("poll").count >= 3)
        }
    }

    @Test func subprocessPollFailureStopsReadingButStillReaps() throws {
        try MockingDriver.with { driver throws in
            driver.fail("poll", with: .badFileDescriptor)
            let result = try Subprocess.run(["sh", "-c", "echo hi; exit 4"])
            #expect(result.exitCode == 4 && result.output.isEmpty && !result.timedOut)
            #expect(driver.calls("poll").count == 1 && driver.calls("read").isEmpty)
        }
    }

    @Test func subprocessKillsWithSigkillPastTheDeadline() throws {
        try MockingDriver.with { driver throws in
            let result = try Subprocess.run(["sleep", "5"], timeout: .milliseconds(50))
            #expect(result.timedOut && result.signal == SIGKILL)
            #expect(driver.calls("kill").map(\.arguments.last) == ["signal=\(SIGKILL)"])
        }
    }

    @Test func toolLookupAsksFaccessat() {
        MockingDriver.with { driver in
            driver.fail("faccessat", with: .permissionDenied)
            #expect(Subprocess.locate("sh") == nil)
            #expect(driver.calls("faccessat").count == Subprocess.searchPath.count)
        }
    }

    @Test func directoryListingGoesThroughGetdents() throws {
        let dir = try TemporaryDirectory()
        _ = try dir.write("a", "")
        _ = try dir.write("b", "")
        for index in 0..<300 { _ = try dir.write("many/\(index)-" + String(repeating: "x", count: 200), "") }
        try MockingDriver.with { driver throws in
            #expect(try Files.list(dir.path).sorted() == ["a", "b", "many"])
            // One read with every entry, one that returns 0; each names the directory (the fd's path).
            #expect(driver.calls("getdents64", pathContains: dir.path.string).count == 2)
            // 300 names of ~205 bytes fill the 32 KiB buffer twice over: every one is read.
            let many = try Files.list(dir.path.appending("many"))
            #expect(many.count == 300 && Set(many).count == 300 && many.allSatisfy { $0.hasSuffix("xxx") })
            #expect(driver.calls("getdents64", pathContains: "many").count >= 3)
            driver.on("getdents64") { _ in .succeed(0) }
            #expect(try Files.list(dir.path).isEmpty)
        }
        // A failed read is an error naming the call and the directory, never a short listing.
        try MockingDriver.with { driver throws in
            // The first read returns the entries, the second fails (the newest rule answers first).
            driver.fail("getdents64", with: .ioError)
            driver.on("getdents64", times: 1) { _ in .passthrough }
            let error = #expect(throws: SyscallError.self) { try Files.list(dir.path) }
            #expect(error?.syscall == "getdents64" && error?.errno == .ioError)
            #expect(error?.path == dir.path)
            #expect(driver.calls("getdents64").count == 2)
        }
    }

    @Test func flockInterruptWaitsItsPauseAndTakesTheLock() throws {
        let dir = try TemporaryDirectory()
        try MockingDriver.with { driver throws in
            driver.fail("flock", times: 1, with: .interrupted)
            #expect(try FileLock.withLock(dir("lock"), timeout: .seconds(5)) { 1 } == 1)
            #expect(driver.calls("usleep").map(\.arguments) == [["1000"]])
        }
    }

    @Test func mockedIdentityAndPauses() {
        MockingDriver.with { driver in
            driver.on("geteuid") { _ in .succeed(1000) }
            #expect(!ProcessIdentity.isRoot)
            driver.on("usleep") { _ in .succeed(0) }
            let clock = ContinuousClock()
            let start = clock.now
            system_usleep(5_000_000)
            #expect(clock.now - start < .seconds(1))
        }
    }
}
