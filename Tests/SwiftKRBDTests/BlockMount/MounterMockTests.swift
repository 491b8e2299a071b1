import Foundation
import SystemPackage
import Testing

@testable import BlockMount
@testable import LinuxSystem

/// Every errno branch of the Mounter, driven through the syscall mocks and a fixture /proc.
@Suite struct BlockMountMounterMockTests {
    /// A fixture /proc whose mountinfo shows `lines`, plus one process holding `held`.
    static func fixtureProc(_ dir: TemporaryDirectory, mountinfo lines: [String], holderCwd held: FilePath? = nil)
        throws -> FilePath
    {
        try dir.write("proc/self/mountinfo", lines.joined(separator: "\n") + "\n")
        if let held {
            try dir.write("proc/4321/comm", "holder-app\n")
            try FileManager.default.createDirectory(
                atPath: dir("proc/4321/fd").string, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: dir("proc/4321/cwd").string, withDestinationPath: "/")
            try FileManager.default.createSymbolicLink(
                atPath: dir("proc/4321/fd/7").string, withDestinationPath: held.string)
            try dir.write("proc/99/comm", "bystander\n")
            try FileManager.default.createSymbolicLink(atPath: dir("proc/99/cwd").string, withDestinationPath: "/tmp")
        }
        return dir("proc")
    }

    static func hasFlags(_ call: MockCall, _ flags: UInt) -> Bool {
        guard let text = call.arguments.first(where: { $0.hasPrefix("flags=") }), let value = UInt(text.dropFirst(6))
        else { return false }
        return value & flags == flags
    }

    @Test func busyUnmountNamesTheMountsAndProcessesThatHoldIt() throws {
        let dir = try TemporaryDirectory()
        let target = FilePath("/var/lib/kubelet/plugins/rbd/mounts/img")
        let proc = try Self.fixtureProc(
            dir,
            mountinfo: [
                "22 1 8:1 / / rw - ext4 /dev/sda1 rw",
                "100 22 252:0 / \(target) rw - ext4 /dev/rbd0 rw",
                "101 100 0:40 / \(target)/inner rw - tmpfs tmpfs rw",
            ], holderCwd: target.appending("data/log.txt"))
        MockingDriver.with { driver in
            driver.fail("umount2", with: .resourceBusy)
            #expect {
                try Mounter(proc: proc).unmount(target)
            } throws: { error in
                let error = error as! MountError
                return error.code == .busy && error.errno == .resourceBusy
                    && error.holders.contains(.mount(target.appending("inner")))
                    && error.holders.contains(
                        .process(pid: 4321, command: "holder-app", path: target.appending("data/log.txt")))
                    && !error.holders.contains { if case .process(99, _, _) = $0 { true } else { false } }
                    && error.description.contains("holder-app")
            }
        }
    }

    @Test(arguments: [Errno.noSuchFileOrDirectory, .invalidArgument])
    func unmountOfWhatIsNotMountedSucceeds(errno: Errno) throws {
        try MockingDriver.with { driver throws in
            driver.fail("umount2", with: errno)
            #expect(try Mounter().unmount("/nowhere/krbd") == .notMounted)
            #expect(driver.calls("umount2").count == 1)
        }
    }

    @Test func otherUnmountErrorsAreErrors() {
        MockingDriver.with { driver in
            driver.fail("umount2", with: .notPermitted)
            #expect { try Mounter().unmount("/nowhere/krbd") } throws: { ($0 as! MountError).code == .unmountFailed }
        }
    }

    @Test func failedReadOnlyRemountUndoesTheBind() throws {
        let dir = try TemporaryDirectory()
        let source = dir.path
        let target = FilePath("/krbd/pods/uid/vol")
        let proc = try Self.fixtureProc(dir, mountinfo: ["22 1 8:1 / / rw - ext4 /dev/sda1 rw"])
        MockingDriver.with { driver in
            driver.on("mount") { call in
                Self.hasFlags(call, UInt(MS_REMOUNT)) ? .fail(.invalidArgument) : .succeed(0)
            }
            driver.on("umount2") { _ in .succeed(0) }
            #expect {
                try Mounter(proc: proc, bindStrategy: .twoStep).bind(source: source, target: target, readOnly: true)
            } throws: { error in
                let error = error as! MountError
                return error.code == .mountFailed && error.errno == .invalidArgument
            }
            let names = driver.trace.map(\.name).filter { ["mount", "umount2"].contains($0) }
            #expect(names == ["mount", "mount", "umount2"])
            let remount = driver.calls("mount")[1]
            #expect(remount.path == target.string)
            #expect(Self.hasFlags(remount, UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY)))
            #expect(remount.arguments.first == "NULL")
            #expect(driver.calls("umount2").first?.path == target.string)
        }
    }

    @Test func writableBindWhereReadOnlyWasAskedIsUndone() throws {
        let dir = try TemporaryDirectory()
        let target = FilePath("/krbd/pods/uid/vol")
        let proc = try Self.fixtureProc(
            dir,
            mountinfo: [
                "22 1 8:1 / / rw - ext4 /dev/sda1 rw",
                "200 22 252:0 / \(target) rw,nodev - ext4 /dev/rbd0 rw",
            ])
        MockingDriver.with { driver in
            driver.on("mount") { _ in .succeed(0) }
            driver.on("umount2") { _ in .succeed(0) }
            driver.on("statx") { _ in .succeed(0) }  // a kernel without STATX_ATTR_MOUNT_ROOT: mountinfo decides
            #expect {
                try Mounter(proc: proc, bindStrategy: .twoStep).bind(source: dir.path, target: target, readOnly: true)
            } throws: { ($0 as! MountError).code == .bindVerificationFailed }
            #expect(driver.calls("umount2", pathContains: target.string).count == 1)
        }
    }

    /// On a kernel that reports mount roots, the bind is checked on the target itself: a mount
    /// call that "succeeded" without a mount appearing there is caught and undone.
    @Test func bindThatDidNotLandIsCaughtByStatx() throws {
        let dir = try TemporaryDirectory()
        let target = dir("vol")
        try Files.makeDirectories(target)
        MockingDriver.with { driver in
            driver.on("mount") { _ in .succeed(0) }
            driver.on("umount2") { _ in .succeed(0) }
            #expect {
                try Mounter(bindStrategy: .twoStep).bind(source: dir.path, target: target, readOnly: false)
            } throws: { error in
                let error = error as! MountError
                return error.code == .bindVerificationFailed && error.message.contains("not a mount point")
            }
            #expect(driver.calls("umount2", pathContains: target.string).count == 1)
            #expect(driver.calls("statvfs").isEmpty, "a read-write bind needs no flag check")
        }
    }

    @Test func atomicBindFallsBackToTwoStepsOnENOSYS() throws {
        let dir = try TemporaryDirectory()
        let target = FilePath("/krbd/pods/uid/vol")
        let proc = try Self.fixtureProc(
            dir,
            mountinfo: [
                "22 1 8:1 / / rw - ext4 /dev/sda1 rw",
                "200 22 252:0 / \(target) ro,nodev - ext4 /dev/rbd0 rw",
            ])
        try MockingDriver.with { driver in
            driver.fail("open_tree", with: .noFunction)
            driver.on("mount") { _ in .succeed(0) }
            driver.on("statx") { _ in .succeed(0) }  // a kernel without STATX_ATTR_MOUNT_ROOT: mountinfo decides
            let method = try Mounter(proc: proc).bind(source: dir.path, target: target, readOnly: true)
            #expect(method == .twoStep)
            #expect(driver.calls("mount").count == 2)
            // Forcing the atomic path on such a kernel is an error, with nothing mounted.
            #expect {
                try Mounter(proc: proc, bindStrategy: .atomic).bind(source: dir.path, target: target, readOnly: true)
            } throws: { ($0 as! MountError).errno == .noFunction }
            #expect(driver.calls("mount").count == 2)
        }
    }

    /// statx refused (a seccomp filter) or missing: the bind is checked in the mount table.
    @Test(arguments: [Errno.notPermitted, .noFunction])
    func bindCheckFallsBackToTheTableWithoutStatx(errno: Errno) throws {
        let dir = try TemporaryDirectory()
        let target = FilePath("/krbd/pods/uid/vol")
        let proc = try Self.fixtureProc(dir, mountinfo: ["200 1 252:0 / \(target) ro - ext4 /dev/rbd0 rw"])
        try MockingDriver.with { driver in
            driver.on("mount") { _ in .succeed(0) }
            driver.fail("statx", pathContains: target.string, with: errno)
            try Mounter(proc: proc, bindStrategy: .twoStep).bind(source: dir.path, target: target, readOnly: true)
            #expect(driver.calls("umount2").isEmpty, "the table shows a read-only bind: kept")
        }
    }

    @Test func atomicBindNeverMountsWritable() throws {
        let dir = try TemporaryDirectory()
        let target = FilePath("/krbd/pods/uid/vol")
        let proc = try Self.fixtureProc(dir, mountinfo: ["200 1 252:0 / \(target) ro - ext4 /dev/rbd0 rw"])
        try MockingDriver.with { driver throws in
            driver.on("open_tree") { _ in .succeed(900) }
            driver.on("mount_setattr") { _ in .succeed(0) }
            driver.on("move_mount") { _ in .succeed(0) }
            driver.on("statx") { _ in .succeed(0) }  // a kernel without STATX_ATTR_MOUNT_ROOT: mountinfo decides
            #expect(try Mounter(proc: proc).bind(source: dir.path, target: target, readOnly: true) == .atomic)
            let order = driver.trace.map(\.name).filter {
                ["open_tree", "mount_setattr", "move_mount", "mount"].contains($0)
            }
            #expect(order == ["open_tree", "mount_setattr", "move_mount"])
            #expect(driver.calls("mount_setattr").first?.arguments.first == "set=1")
        }
    }

    @Test func mountSplitsOptionsAndGivesXFSNouuid() throws {
        try MockingDriver.with { driver in
            driver.on("mount") { _ in .succeed(0) }
            driver.on("statvfs") { _ in .succeed(Int(UInt(MS_RDONLY) | UInt(MS_NODEV))) }
            try Mounter().mount(
                device: "/dev/krbd0", target: "/mnt/krbd", fsType: "xfs",
                options: "noatime,nodev,logbsize=256k", readOnly: true)
            let call = try #require(driver.calls("mount").first)
            #expect(
                call.arguments == [
                    "/dev/krbd0", "xfs", "flags=\(UInt(MS_RDONLY) | UInt(MS_NOATIME) | UInt(MS_NODEV))",
                    "logbsize=256k,nouuid",
                ])
        }
    }

    @Test func aMountWithoutARequiredFlagIsUndone() throws {
        // nodev and nosuid are flags that mount(2) must honour; a mount that comes out without
        // one (here: the kernel reports only nodev) is unmounted again and refused.
        try MockingDriver.with { driver in
            driver.on("mount") { _ in .succeed(0) }
            driver.on("umount2") { _ in .succeed(0) }
            driver.on("statvfs") { _ in .succeed(Int(UInt(MS_NODEV))) }
            let error = #expect(throws: MountError.self) {
                try Mounter().mount(
                    device: "/dev/krbd0", target: "/mnt/krbd", fsType: "ext4", options: #"context="a,b""#,
                    requiredFlags: UInt(MS_NODEV) | UInt(MS_NOSUID))
            }
            #expect(error?.code == .mountFailed && error?.message.contains("without nosuid") == true)
            let call = try #require(driver.calls("mount").first)
            // Flags, not text after the caller's options.
            #expect(call.arguments.contains("flags=\(UInt(MS_NODEV) | UInt(MS_NOSUID))"))
            #expect(call.arguments.last == #"context="a,b""#)
            #expect(driver.calls("umount2").count == 1)
        }
    }

    @Test func mountFailureNamesTheCauseButNotTheData() {
        MockingDriver.with { driver in
            driver.fail("mount", with: .invalidArgument)
            #expect {
                try Mounter().mount(
                    device: "/dev/krbd0", target: "/mnt/krbd", fsType: "ext4", options: "secretish=hunter2")
            } throws: { error in
                let error = error as! MountError
                return error.code == .mountFailed && error.description.contains("bad superblock")
                    && !error.description.contains("hunter2")
            }
        }
    }

    @Test func corruptedMountIsReportedAndStillCleanedUp() throws {
        let dir = try TemporaryDirectory()
        let target = dir("stale")
        try FileManager.default.createDirectory(atPath: target.string, withIntermediateDirectories: true)
        try MockingDriver.with { driver in
            driver.fail("statx", pathContains: "stale", times: 2, with: .socketNotConnected)
            let mounter = Mounter()
            #expect(try mounter.mountPointStatus(target) == .corrupted(.socketNotConnected))
            #expect { try mounter.isMountPoint(target) } throws: { ($0 as! MountError).code == .corruptedMount }
            // Both statx failures are used up; cleanup sees the corruption once more, unmounts, removes.
            driver.fail("statx", pathContains: "stale", times: 1, with: .staleNFSFileHandle)
            driver.on("umount2") { _ in .succeed(0) }
            try mounter.cleanupMountPoint(target)
            // Once before looking (cleanup's first step), once after statx still saw the
            // corruption (the mocked umount2 changed nothing).
            #expect(driver.calls("umount2", pathContains: "stale").count == 2)
        }
        #expect(!FileManager.default.fileExists(atPath: target.string))
    }

    /// Cleanup unmounts before it looks (a mounted target costs umount2 + statx + rmdir); a target
    /// that is not mounted gets EINVAL (EPERM without root) from that umount2 and is then looked at and removed.
    @Test func cleanupUnmountsBeforeLooking() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir("plain").string, withIntermediateDirectories: false)
        try MockingDriver.with { driver in
            try Mounter().cleanupMountPoint(dir("plain"))
            #expect(driver.trace.map(\.name) == ["umount2", "statx", "unlinkat"])
        }
        #expect(!FileManager.default.fileExists(atPath: dir("plain").string))
        try MockingDriver.with { driver in
            driver.fail("umount2", times: 1, with: .resourceBusy)
            driver.fail("statx", times: 1, with: .socketNotConnected)  // looks mounted (corrupted)
            driver.fail("umount2", times: 1, with: .resourceBusy)
            try FileManager.default.createDirectory(atPath: dir("busy").string, withIntermediateDirectories: false)
            #expect { try Mounter().cleanupMountPoint(dir("busy")) } throws: { ($0 as! MountError).code == .busy }
            #expect(driver.calls("umount2").count == 2, "the busy error comes from the unmount after the look")
        }
    }

    @Test func mountPointFallsBackToTheMountTable() throws {
        let dir = try TemporaryDirectory()
        let proc = try Self.fixtureProc(
            dir, mountinfo: ["22 1 8:1 / / rw - ext4 /dev/sda1 rw", "30 22 0:9 / /data rw - tmpfs t rw"])
        try MockingDriver.with { driver throws in
            driver.on("statx") { _ in .succeed(0) }  // a kernel that does not report STATX_ATTR_MOUNT_ROOT
            #expect(try Mounter(proc: proc).isMountPoint("/data"))
            #expect(try !Mounter(proc: proc).isMountPoint("/data/sub"))
        }
    }

    @Test func realStatxOnThisKernel() throws {
        let dir = try TemporaryDirectory()
        #expect(try Mounter().isMountPoint("/"))
        #expect(try !Mounter().isMountPoint(dir.path))
        #expect(try Mounter().mountPointStatus(dir("absent")) == .missing)
        #expect(try Mounter().unmount(dir("absent")) == .notMounted)
        try Mounter().cleanupMountPoint(dir("absent"))
        try FileManager.default.createDirectory(atPath: dir("empty").string, withIntermediateDirectories: false)
        try Mounter().cleanupMountPoint(dir("empty"))
        #expect(!FileManager.default.fileExists(atPath: dir("empty").string))
        try dir.write("full/keep.txt", "data")
        #expect { try Mounter().cleanupMountPoint(dir("full")) } throws: {
            ($0 as! MountError).code == .directoryFailed
        }
        #expect(try dir.read("full/keep.txt") == "data")
    }

    @Test func formatAndMountRefusesWhatIsNotABlockDevice() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("img"), mebibytes: 4)
        #expect {
            try Mounter().formatAndMount(device: image, target: dir("mnt"), fsType: "ext4")
        } throws: { ($0 as! MountError).code == .notBlockDevice }
    }
}
