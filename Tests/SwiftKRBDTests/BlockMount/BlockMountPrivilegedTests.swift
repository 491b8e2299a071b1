import Foundation
import SystemPackage
import Testing

@testable import BlockMount
@testable import LinuxSystem

/// Scratch space for a privileged test: a temp dir, loop devices, and a cleanup that unmounts
/// everything under the dir (lazily if it must) and detaches the loops even when a test fails.
final class Scratch {
    let dir: TemporaryDirectory
    private var loops: [LoopDevice] = []

    init() throws { dir = try TemporaryDirectory("krbd-bm") }

    func callAsFunction(_ relative: String) -> FilePath { dir(relative) }

    /// A loop device over a new sparse image of `mebibytes` MiB, prepared by `prepare` first.
    func loop(mebibytes: Int, image name: String = "disk.img", prepare: (FilePath) throws -> Void = { _ in })
        throws -> FilePath
    {
        let image = try sparseFile(dir(name), mebibytes: mebibytes)
        try prepare(image)
        return try attach(image)
    }

    func attach(_ image: FilePath) throws -> FilePath {
        let loop = try LoopDevice(file: image)
        loops.append(loop)
        return loop.path
    }

    func makeDirectory(_ relative: String) throws -> FilePath {
        try FileManager.default.createDirectory(atPath: dir(relative).string, withIntermediateDirectories: true)
        return dir(relative)
    }

    func cleanup() {
        for _ in 0..<8 {
            let mounted = ((try? MountTable.current().mounts(under: dir.path)) ?? []).reversed()
            if mounted.isEmpty { break }
            for entry in mounted where umount2(entry.target.string, 0) != 0 {
                _ = umount2(entry.target.string, CInt(MNT_DETACH))
            }
        }
        for loop in loops.reversed() { loop.detach() }
        loops = []
    }
}

/// Opens `path` for writing (creating it) and returns the errno, 0 on success.
func tryWrite(_ path: FilePath) -> Int32 {
    let fd = open(path.string, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
    if fd < 0 { return errno }
    defer { close(fd) }
    return write(fd, "x", 1) == 1 ? 0 : errno
}

@Suite(.serialized, .privileged) struct BlockMountPrivilegedTests {
    @Test func formatsABlankDeviceOnceAndNeverAgain() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let device = try s.loop(mebibytes: 64)
        let global = s("global")
        let mounter = Mounter()

        let first = try MockingDriver.with { driver in
            let first = try mounter.formatAndMount(
                device: device, target: global, fsType: "ext4", mountOptions: "noatime")
            // One probe (the formatter trusts it: no other mkfs ran since), then mkfs, then mount.
            #expect(driver.calls("openat", pathContains: device.string).count == 1)
            // The probe asked for what libblkid and the blank check read, all at once.
            let mib = 1 << 20
            let size = 64 * mib
            #expect(
                driver.calls("posix_fadvise").map(\.arguments)
                    == [
                        (0, 516 << 10), (mib, 4096), (2 * mib, 4096), (4 * mib, 4096), (size - 2 * mib, 2 * mib),
                        (516 << 10, mib - (516 << 10)),
                    ].map { ["offset=\($0.0)", "length=\($0.1)", "advice=\(POSIX_FADV_WILLNEED)"] })
            return first
        }
        #expect(first.outcome == .formattedAndMounted)
        #expect(first.probe == .blank && first.fsType == "ext4" && !first.isFilesystemMismatch)
        #expect(first.timings.format > .zero && first.timings.mount > .zero)
        #expect(try mounter.isMountPoint(global))
        try "keep".write(toFile: global.appending("keep.txt").string, atomically: false, encoding: .utf8)

        #expect(try mounter.formatAndMount(device: device, target: global, fsType: "ext4").outcome == .alreadyMounted)
        #expect(try mounter.unmount(global) == .unmounted)
        #expect(try mounter.unmount(global) == .notMounted)

        try MockingDriver.with { driver in
            let again = try mounter.formatAndMount(device: device, target: global, fsType: "ext4")
            #expect(again.outcome == .mountedExisting)
            #expect(driver.calls("posix_spawn").isEmpty, "mkfs must not run on a formatted device")
        }
        #expect(try String(contentsOfFile: global.appending("keep.txt").string, encoding: .utf8) == "keep")
        try mounter.unmount(global)

        // Another type asked for: mounted as it is, reported, never reformatted.
        let other = try mounter.formatAndMount(device: device, target: global, fsType: "xfs")
        #expect(other.outcome == .mountedExisting && other.fsType == "ext4" && other.isFilesystemMismatch)
        #expect(try String(contentsOfFile: global.appending("keep.txt").string, encoding: .utf8) == "keep")
        try mounter.cleanupMountPoint(global)
        #expect(!FileManager.default.fileExists(atPath: global.string))
    }

    @Test func refusesPartitionedAndReadOnlyBlankDevices() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let partitioned = try s.loop(mebibytes: 16, image: "gpt.img") { try writePartitionTable($0, label: "gpt") }
        let blank = try s.loop(mebibytes: 16, image: "blank.img")
        let mounter = Mounter()
        #expect { try mounter.formatAndMount(device: partitioned, target: s("a"), fsType: "ext4") } throws: {
            ($0 as! MountError).code == .partitioned
        }
        #expect { try mounter.formatAndMount(device: blank, target: s("b"), fsType: "ext4", readOnly: true) } throws: {
            ($0 as! MountError).code == .readOnlyBlank
        }
        #expect(try !mounter.isMountPoint(s("a")) && !mounter.isMountPoint(s("b")))
        #expect(try BlockProbe.probe(blank).result == .blank)
    }

    @Test(arguments: [Mounter.BindStrategy.atomic, .twoStep])
    func readOnlyBindRefusesWritesWhileTheGlobalMountWrites(strategy: Mounter.BindStrategy) throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let device = try s.loop(mebibytes: 64)
        let global = s("global")
        let pod = try s.makeDirectory("pod")
        let mounter = Mounter(bindStrategy: strategy)
        try mounter.formatAndMount(device: device, target: global, fsType: "ext4")

        let method = try mounter.bind(source: global, target: pod, readOnly: true)
        #expect(method == (strategy == .atomic ? .atomic : .twoStep))
        #expect(tryWrite(pod.appending("nope")) == EROFS)
        #expect(tryWrite(global.appending("yes")) == 0)
        #expect(FileManager.default.fileExists(atPath: pod.appending("yes").string))
        let table = try MountTable.current()
        #expect(table.mounts(at: pod).last?.isReadOnly == true)
        #expect(table.mounts(at: global).last?.isReadOnly == false)
        #expect(table.references(to: global).map(\.target) == [pod])
        try mounter.unmount(pod)
        try mounter.unmount(global)
    }

    @Test(arguments: [Mounter.BindStrategy.atomic, .twoStep])
    func readOnlyBindKeepsTheSourcesLockedFlags(strategy: Mounter.BindStrategy) throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let device = try s.loop(mebibytes: 64)
        let global = s("global")
        let pod = try s.makeDirectory("pod")
        let mounter = Mounter(bindStrategy: strategy)
        try mounter.formatAndMount(device: device, target: global, fsType: "ext4", mountOptions: "nodev,nosuid,noexec")
        try mounter.bind(source: global, target: pod, readOnly: true)
        let line = try #require(try mountinfoLines(at: pod).last)
        let options = Set(line.split(separator: " ")[5].split(separator: ",").map(String.init))
        #expect(options.isSuperset(of: ["ro", "nodev", "nosuid", "noexec"]), "\(line)")
        try mounter.unmount(pod)
        try mounter.unmount(global)
    }

    @Test func mountPointTestSeesASameFilesystemBind() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let source = try s.makeDirectory("plain/source")
        let target = try s.makeDirectory("plain/target")
        let mounter = Mounter()
        #expect(try !mounter.isMountPoint(target))
        try mounter.bind(source: source, target: target, readOnly: false)
        var a = stat(), b = stat()
        stat(source.string, &a)
        stat(target.removingLastComponent().string, &b)
        #expect(a.st_dev == b.st_dev, "same filesystem: st_dev cannot tell")
        #expect(try mounter.isMountPoint(target))
        #expect(try !mounter.isMountPoint(source))
        try mounter.cleanupMountPoint(target)
        #expect(!FileManager.default.fileExists(atPath: target.string))
        #expect(FileManager.default.fileExists(atPath: source.string))
    }

    @Test func busyUnmountNamesTheProcessWithAnOpenFile() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let device = try s.loop(mebibytes: 64)
        let global = s("global")
        let mounter = Mounter()
        try mounter.formatAndMount(device: device, target: global, fsType: "ext4")
        let held = global.appending("held.txt")
        let fd = open(held.string, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        #expect { try mounter.unmount(global) } throws: { error in
            let error = error as! MountError
            return error.code == .busy
                && error.holders.contains { if case .process(getpid(), _, held) = $0 { true } else { false } }
        }
        close(fd)
        #expect(try mounter.unmount(global) == .unmounted)
    }

    @Test func ownershipStaysInsideTheVolume() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let device = try s.loop(mebibytes: 64)
        let global = s("global")
        let mounter = Mounter()
        try mounter.formatAndMount(device: device, target: global, fsType: "ext4")
        let fm = FileManager.default
        let outside = try s.makeDirectory("outside")
        try "secret".write(toFile: outside.appending("secret.txt").string, atomically: false, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: outside.appending("secret.txt").string)
        try fm.createDirectory(atPath: global.appending("data/nested").string, withIntermediateDirectories: true)
        try "x".write(toFile: global.appending("data/file").string, atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(
            atPath: global.appending("data/escape").string,
            withDestinationPath: outside.appending("secret.txt").string)
        try fm.createSymbolicLink(atPath: global.appending("escape-dir").string, withDestinationPath: outside.string)
        // Another filesystem mounted inside the volume is not entered.
        let foreign = try s.makeDirectory("foreign")
        try "f".write(toFile: foreign.appending("f.txt").string, atomically: false, encoding: .utf8)
        try mounter.bind(source: foreign, target: global.appending("data/nested"), readOnly: false)

        let report = try Ownership.apply(root: global, gid: 4242, policy: .always)
        #expect(report.otherMounts == 1 && report.symlinks == 2)
        var st = stat()
        lstat(global.appending("data/file").string, &st)
        #expect(st.st_gid == 4242 && st.st_mode & 0o070 == 0o060)
        lstat(global.string, &st)
        #expect(st.st_gid == 4242 && st.st_mode & S_ISGID != 0)
        for untouched in [outside, outside.appending("secret.txt"), foreign, foreign.appending("f.txt")] {
            lstat(untouched.string, &st)
            #expect(st.st_gid == 0, "\(untouched)")
            #expect(st.st_mode & S_ISGID == 0, "\(untouched)")
        }
        lstat(outside.appending("secret.txt").string, &st)
        #expect(st.st_mode & 0o7777 == 0o600)
    }

    @Test func xfsGetsNouuidSoClonesMountSideBySide() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let device = try s.loop(mebibytes: 320, image: "xfs.img")
        let mounter = Mounter()
        let first = try mounter.formatAndMount(device: device, target: s("one"), fsType: "xfs")
        #expect(first.outcome == .formattedAndMounted && first.fsType == "xfs")
        let entry = try #require(try MountTable.current().mounts(at: s("one")).last)
        #expect(entry.fsOptions.split(separator: ",").contains("nouuid"), "\(entry.fsOptions)")
        try mounter.unmount(s("one"))
        try sh("cp --sparse=always '\(s("xfs.img"))' '\(s("clone.img"))'")
        let clone = try s.attach(s("clone.img"))
        try mounter.formatAndMount(device: device, target: s("one"), fsType: "xfs")
        let second = try mounter.formatAndMount(device: clone, target: s("two"), fsType: "xfs")
        #expect(second.outcome == .mountedExisting)
        #expect(try mounter.isMountPoint(s("one")) && mounter.isMountPoint(s("two")))
        try mounter.unmount(s("two"))
        try mounter.unmount(s("one"))
    }

    @Test func anotherMountOnTheTargetIsNotMistakenForOurs() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let a = try s.loop(mebibytes: 64, image: "a.img")
        let b = try s.loop(mebibytes: 64, image: "b.img")
        let mounter = Mounter()
        try mounter.formatAndMount(device: a, target: s("global"), fsType: "ext4")
        #expect { try mounter.formatAndMount(device: b, target: s("global"), fsType: "ext4") } throws: {
            ($0 as! MountError).code == .targetInUse
        }
        #expect(try BlockProbe.probe(b).result == .blank)
    }
}
