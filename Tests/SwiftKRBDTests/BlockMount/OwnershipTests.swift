import Foundation
import SystemPackage
import Testing

@testable import BlockMount
@testable import LinuxSystem

/// The ownership walk on a temp tree: as root with a foreign gid, else with our own gid.
@Suite struct BlockMountOwnershipTests {
    static let gid: UInt32 = geteuid() == 0 ? 4242 : getegid()

    struct Tree {
        let dir: TemporaryDirectory
        var root: FilePath { dir("vol") }
        var outside: FilePath { dir("outside") }
    }

    static func makeTree() throws -> Tree {
        let dir = try TemporaryDirectory()
        let fm = FileManager.default
        func file(_ path: String, _ mode: Int) throws {
            try dir.write(path, "x")
            try fm.setAttributes([.posixPermissions: mode], ofItemAtPath: dir(path).string)
        }
        try file("vol/a.txt", 0o600)
        try file("vol/run.sh", 0o700)
        try file("vol/sub/b.txt", 0o644)
        try file("vol/sub/deep/c.txt", 0o640)
        try file("vol/sub/deep/name with \u{00e9}", 0o600)
        try file("outside/secret.txt", 0o600)
        try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir("vol/sub").string)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir("vol").string)
        try fm.createSymbolicLink(
            atPath: dir("vol/link-file").string, withDestinationPath: dir("outside/secret.txt").string)
        try fm.createSymbolicLink(atPath: dir("vol/sub/link-dir").string, withDestinationPath: dir("outside").string)
        return Tree(dir: dir)
    }

    static func status(_ path: FilePath) throws -> (mode: mode_t, gid: gid_t) {
        var st = stat()
        guard lstat(path.string, &st) == 0 else { throw Errno(rawValue: errno) }
        return (st.st_mode & 0o7777, st.st_gid)
    }

    @Test func givesTheTreeToTheGroupWithoutFollowingSymlinks() throws {
        let tree = try Self.makeTree()
        let outsideBefore = try Self.status(tree.outside.appending("secret.txt"))
        let outsideDirBefore = try Self.status(tree.outside)
        let report = try Ownership.apply(root: tree.root, gid: Self.gid, policy: .always)
        #expect(report.visited == 8)
        #expect(report.symlinks == 2)
        #expect(report.otherMounts == 0)
        let expected: [(String, mode_t)] = [
            ("vol", 0o2775), ("vol/a.txt", 0o660), ("vol/run.sh", 0o770), ("vol/sub", 0o2770),
            ("vol/sub/b.txt", 0o664), ("vol/sub/deep", 0o2775), ("vol/sub/deep/c.txt", 0o660),
            ("vol/sub/deep/name with \u{00e9}", 0o660),
        ]
        for (path, mode) in expected {
            let st = try Self.status(tree.dir(path))
            #expect(st.mode == mode, "\(path): \(String(st.mode, radix: 8))")
            #expect(st.gid == Self.gid, "\(path)")
        }
        #expect(try Self.status(tree.outside.appending("secret.txt")) == outsideBefore)
        #expect(try Self.status(tree.outside) == outsideDirBefore)
    }

    @Test func specialFilesAreNotGivenToTheGroup() throws {
        let tree = try Self.makeTree()
        let fifo = tree.dir("vol/sub/pipe")
        #expect(mkfifo(fifo.string, 0o600) == 0)
        let before = try Self.status(fifo)
        let report = try Ownership.apply(root: tree.root, gid: Self.gid, policy: .always)
        #expect(report.specialFiles == 1)
        let after = try Self.status(fifo)
        #expect(after.gid == before.gid && after.mode == before.mode)
        #expect(try Self.status(tree.dir("vol/sub/b.txt")).gid == Self.gid)
    }

    @Test func onRootMismatchIsConstantTimeOnceApplied() throws {
        let tree = try Self.makeTree()
        _ = try Ownership.apply(root: tree.root, gid: Self.gid, policy: .onRootMismatch)
        try MockingDriver.with { driver in
            let again = try Ownership.apply(root: tree.root, gid: Self.gid, policy: .onRootMismatch)
            #expect(again.skipped == .rootMatches && again.visited == 1)
            #expect(driver.calls("fstatat").isEmpty && driver.calls("fdopendir").isEmpty)
            let always = try Ownership.apply(root: tree.root, gid: Self.gid, policy: .always)
            #expect(always.changed == 0 && always.visited == 8)
            #expect(driver.calls("fchownat").isEmpty && driver.calls("fchmodat").isEmpty)
            #expect(driver.calls("fchown").isEmpty && driver.calls("fchmod").isEmpty)
        }
    }

    /// A directory whose listing fails part-way stops the walk with an error naming it: readdir
    /// ends on an error as at the end, and the rest of the directory must not be skipped unseen.
    @Test func aListingThatFailsPartWayIsAnError() throws {
        let tree = try Self.makeTree()
        MockingDriver.with { driver in
            // The newest rule answers first: two entries pass (`.` and `..` or two names), the
            // third read fails.
            driver.fail("readdir", with: .ioError)
            driver.on("readdir", times: 2) { _ in .passthrough }
            let error = #expect(throws: MountError.self) {
                try Ownership.apply(root: tree.root, gid: Self.gid, policy: .always)
            }
            #expect(error?.code == .ownershipFailed && error?.syscall == "readdir" && error?.errno == .ioError)
            // The root, or the first directory under it that the walk entered.
            #expect(error?.path.map { $0.string.hasPrefix(tree.root.string) } == true)
        }
    }

    @Test func readOnlyVolumesAreLeftAlone() throws {
        let tree = try Self.makeTree()
        let before = try Self.status(tree.root.appending("a.txt"))
        #expect(try Ownership.apply(root: tree.root, gid: Self.gid, readOnly: true).skipped == .readOnly)
        #expect(try Self.status(tree.root.appending("a.txt")) == before)
    }

    @Test func aSymlinkRootIsRefused() throws {
        let tree = try Self.makeTree()
        try FileManager.default.createSymbolicLink(
            atPath: tree.dir("vol-link").string, withDestinationPath: tree.outside.string)
        #expect { try Ownership.apply(root: tree.dir("vol-link"), gid: Self.gid) } throws: { error in
            let error = error as! MountError
            return error.code == .ownershipFailed && [.tooManySymbolicLinkLevels, .notDirectory].contains(error.errno)
        }
    }

    @Test func failureNamesThePath() throws {
        let tree = try Self.makeTree()
        MockingDriver.with { driver in
            driver.fail("fchmodat", pathContains: "c.txt", with: .notPermitted)
            #expect { try Ownership.apply(root: tree.root, gid: Self.gid, policy: .always) } throws: { error in
                let error = error as! MountError
                return error.code == .ownershipFailed && error.path == tree.root.appending("sub/deep/c.txt")
                    && error.syscall == "fchmodat"
            }
        }
    }

    @Test func setIDBitsAreNotGivenBackAfterAChown() {
        #expect(Ownership.desiredMode(S_IFREG | 0o4755, droppingSetID: true) == 0o775)
        #expect(Ownership.desiredMode(S_IFREG | 0o644) == 0o664)
        #expect(Ownership.desiredMode(S_IFDIR | 0o700) == 0o2770)
        #expect(Ownership.desiredMode(S_IFREG | 0o500) == 0o570)
    }
}
