import Foundation
import SystemPackage
import Testing

@testable import BlockMount
@testable import LinuxSystem

/// libblkid on image files (no root needed), and the formatter's refusals.
@Suite struct BlockMountProbeTests {
    @Test func zeroedImageIsBlank() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("zero.img"), mebibytes: 8)
        let probe = try BlockProbe.probe(image)
        #expect(probe.result == .blank)
        #expect(probe.size == 8 << 20)
    }

    @Test(arguments: [0, 7 << 20 + 4096])
    func unrecognisedDataIsNeverBlankAndNeverFormatted(_ offset: Int) throws {
        // Data libblkid does not know (here: an ext4 whose superblock was wiped, or stray bytes
        // near the end) must not count as blank.
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("data.img"), mebibytes: 8)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image.string))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }))
        try handle.close()
        // The first non-zero byte is named, not "conflicting signatures" (there are none).
        #expect(try BlockProbe.probe(image).result == .nonZeroData(offset: UInt64(offset)))
        let error = #expect(throws: MountError.self) { try FilesystemFormatter().format(device: image, fsType: "ext4") }
        #expect(error?.code == .unknownData && error?.message.contains("byte \(offset) is not zero") == true)
        #expect(error?.message.contains("conflicting") == false)
        let wiped = try sparseFile(dir("wiped.img"), mebibytes: 32)
        try sh(
            "mkfs.ext4 -q -F '\(wiped)' && dd if=/dev/zero of='\(wiped)' bs=4096 count=1 seek=0 conv=notrunc status=none"
        )
        try sh("dd if=/dev/zero of='\(wiped)' bs=1024 count=1 seek=1 conv=notrunc status=none")
        guard case .nonZeroData = try BlockProbe.probe(wiped).result else {
            Issue.record("a wiped ext4 superblock must read as non-zero data without a signature")
            return
        }
    }

    @Test(arguments: ["ext4 -b 1024", "../../bin/sh", "", "EXT4", "ext4;reboot"])
    func filesystemTypesAreNamesNotCommands(_ fsType: String) throws {
        let dir = try TemporaryDirectory()
        let blank = try sparseFile(dir("blank.img"), mebibytes: 8)
        MockingDriver.with { driver in
            let error = #expect(throws: MountError.self) {
                try FilesystemFormatter().format(device: blank, fsType: fsType)
            }
            #expect(error?.code == .invalidOptions)
            #expect(driver.calls("posix_spawn").isEmpty)
        }
    }

    @Test func ext4ImageShowsTypeUUIDAndLabel() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("ext4.img"), mebibytes: 32)
        try sh("mkfs.ext4 -q -F -L krbdlabel -U 0b7d9a3e-3f4a-4c1e-9a51-1d2c3b4a5f60 '\(image)'")
        let probe = try BlockProbe.probe(image)
        #expect(
            probe.result == .filesystem(type: "ext4", uuid: "0b7d9a3e-3f4a-4c1e-9a51-1d2c3b4a5f60", label: "krbdlabel"))
        #expect(probe.result.filesystemType == "ext4")
    }

    @Test func xfsImageShowsXFS() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("xfs.img"), mebibytes: 320)
        try sh("mkfs.xfs -q '\(image)'")
        #expect(try BlockProbe.probe(image).result.filesystemType == "xfs")
    }

    @Test(arguments: ["gpt", "dos"])
    func partitionTableIsReported(label: String) throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("disk.img"), mebibytes: 16)
        try writePartitionTable(image, label: label)
        #expect(try BlockProbe.probe(image).result == .partitionTable(type: label))
    }

    @Test func swapIsUnknownDataNotAFilesystem() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("swap.img"), mebibytes: 8)
        try sh("mkswap '\(image)'")
        #expect(try BlockProbe.probe(image).result == .unknownData(type: "swap"))
    }

    @Test func missingDeviceIsAnErrorNotBlank() throws {
        let dir = try TemporaryDirectory()
        #expect {
            try BlockProbe.probe(dir("absent"))
        } throws: { error in
            let error = error as! MountError
            return error.code == .probeFailed && error.errno == .noSuchFileOrDirectory && error.syscall == "open"
        }
    }

    @Test func directoryIsNotABlockDevice() throws {
        let dir = try TemporaryDirectory()
        #expect { try BlockProbe.probe(dir.path) } throws: { ($0 as! MountError).code == .notBlockDevice }
    }

    @Test func readErrorOnTheBlankCheckIsAnError() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("zero.img"), mebibytes: 4)
        MockingDriver.with { driver in
            driver.fail("pread", with: .ioError)
            #expect {
                try BlockProbe.probe(image)
            } throws: { error in
                let error = error as! MountError
                return error.code == .probeFailed && error.errno == .ioError && error.syscall == "pread"
            }
        }
    }

    @Test func openErrorIsAnErrorNotBlank() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("zero.img"), mebibytes: 4)
        MockingDriver.with { driver in
            driver.fail("openat", pathContains: "zero.img", with: .ioError)
            #expect { try BlockProbe.probe(image) } throws: { ($0 as! MountError).code == .probeFailed }
        }
    }
}

@Suite struct BlockMountFormatterTests {
    @Test func blankImageIsFormattedAndReprobed() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("blank.img"), mebibytes: 32)
        let result = try MockingDriver.with { driver in
            let result = try FilesystemFormatter().format(device: image, fsType: "ext4", options: ["-L", "fresh"])
            let spawn = driver.calls("posix_spawn")
            #expect(spawn.count == 1)
            #expect(
                spawn.first?.arguments == [
                    "-F", "-m0", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1", "-L", "fresh", image.string,
                ])
            return result
        }
        #expect(result.outcome == .formatted)
        #expect(result.before == .blank)
        #expect(result.after.filesystemType == "ext4")
    }

    @Test func existingFilesystemIsNeverReformatted() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("ext4.img"), mebibytes: 32)
        try sh("mkfs.ext4 -q -F '\(image)'")
        try MockingDriver.with { driver in
            let result = try FilesystemFormatter().format(device: image, fsType: "xfs")
            #expect(result.outcome == .existing(type: "ext4"))
            #expect(driver.calls("posix_spawn").isEmpty)
        }
    }

    @Test func refusals() throws {
        let dir = try TemporaryDirectory()
        let blank = try sparseFile(dir("blank.img"), mebibytes: 8)
        let disk = try sparseFile(dir("disk.img"), mebibytes: 8)
        try writePartitionTable(disk, label: "gpt")
        let swap = try sparseFile(dir("swap.img"), mebibytes: 8)
        try sh("mkswap '\(swap)'")
        MockingDriver.with { driver in
            #expect { try FilesystemFormatter().format(device: blank, fsType: "ext4", readOnly: true) } throws: {
                ($0 as! MountError).code == .readOnlyBlank
            }
            #expect { try FilesystemFormatter().format(device: disk, fsType: "ext4") } throws: {
                ($0 as! MountError).code == .partitioned
            }
            #expect { try FilesystemFormatter().format(device: swap, fsType: "ext4") } throws: {
                ($0 as! MountError).code == .unknownData
            }
            #expect(driver.calls("posix_spawn").isEmpty)
        }
    }

    @Test func failingMkfsIsFormatFailed() throws {
        let dir = try TemporaryDirectory()
        let blank = try sparseFile(dir("blank.img"), mebibytes: 8)
        #expect { try FilesystemFormatter().format(device: blank, fsType: "nosuchfs") } throws: {
            ($0 as! MountError).code == .formatFailed
        }
    }

    @Test func queueServesInOrderAndTimesOut() throws {
        let queue = FormatQueue(limit: 1)
        let a = try queue.acquire(timeout: .seconds(1), device: "/dev/a")
        #expect(queue.active == 1)
        #expect { try queue.acquire(timeout: .milliseconds(20), device: "/dev/b") } throws: {
            ($0 as! MountError).code == .formatFailed
        }
        queue.release(a)
        queue.release(try queue.acquire(timeout: .milliseconds(20), device: "/dev/c"))
        #expect(queue.active == 0)
    }

    /// One mkfs per device at a time, whatever the limit: a second caller for the same device
    /// waits (and then probes the first one's filesystem); other devices go ahead.
    @Test func oneSlotPerDevice() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("one.img"), mebibytes: 1)
        let queue = FormatQueue(limit: 4)
        let first = try queue.acquire(timeout: .seconds(1), device: image)
        #expect { try queue.acquire(timeout: .milliseconds(30), device: image) } throws: {
            ($0 as! MountError).code == .formatFailed
        }
        queue.release(try queue.acquire(timeout: .milliseconds(30), device: dir("other.img")))
        queue.release(first)
        queue.release(try queue.acquire(timeout: .milliseconds(30), device: image))
        #expect(queue.active == 0)
    }

    /// A slot is released under the key it was granted with, even when the device's node is
    /// gone by then (a block device unmapped during mkfs): the device number is free again.
    @Test(.enabled(if: geteuid() == 0, "mknod needs root")) func aSlotIsReleasedUnderItsOwnKey() throws {
        let dir = try TemporaryDirectory()
        let node = dir("rbd-node")
        #expect(mknod(node.string, S_IFBLK | 0o600, DeviceNumber(major: 250, minor: 7).rdev) == 0)
        let queue = FormatQueue(limit: 2)
        let slot = try queue.acquire(timeout: .seconds(1), device: node)
        #expect(slot.key == "block \(DeviceNumber(major: 250, minor: 7).rdev)")
        _ = unlink(node.string)
        queue.release(slot)
        #expect(mknod(node.string, S_IFBLK | 0o600, DeviceNumber(major: 250, minor: 7).rdev) == 0)
        queue.release(try queue.acquire(timeout: .milliseconds(30), device: node))
        #expect(queue.active == 0)
    }

    @Test func defaults() {
        #expect(FilesystemFormatter.defaultOptions(for: "xfs") == ["-K"])
        #expect(FilesystemFormatter.defaultOptions(for: "ext3").prefix(2) == ["-F", "-m0"])
        #expect(FilesystemFormatter.concurrencyLimit == 2)
    }
}

/// formatAndMount's first probe stands in for the formatter's own only while no other mkfs of
/// the process could have touched the device since.
@Suite struct BlockMountFormatterFreshProbeTests {
    @Test func aFreshBlankProbeIsNotRepeatedAndMkfsIsNotReprobed() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("blank.img"), mebibytes: 32)
        let queue = FormatQueue(limit: 2)
        let mark = queue.mark()
        #expect(try BlockProbe.probe(image).result == .blank)
        let result = try MockingDriver.with { driver in
            let result = try FilesystemFormatter().format(
                device: image, fsType: "ext4", options: [], readOnly: false, probedBlank: mark, verify: false,
                queue: queue)
            #expect(driver.calls("openat", pathContains: "blank.img").isEmpty, "no probe before or after mkfs")
            #expect(driver.calls("posix_spawn").count == 1)
            return result
        }
        #expect(result.outcome == .formatted && result.before == .blank)
        #expect(try BlockProbe.probe(image).result.filesystemType == "ext4")
    }

    @Test func anMkfsSinceTheProbeForcesANewProbe() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("raced.img"), mebibytes: 32)
        let queue = FormatQueue(limit: 2)
        let mark = queue.mark()
        #expect(try BlockProbe.probe(image).result == .blank)
        // Another formatter of this process wins the device between our probe and our slot.
        let other = try queue.acquire(timeout: .seconds(1), device: image)
        try sh("mkfs.ext4 -q -F '\(image)'")
        queue.release(other)
        try MockingDriver.with { driver in
            let result = try FilesystemFormatter().format(
                device: image, fsType: "ext4", options: [], readOnly: false, probedBlank: mark, verify: false,
                queue: queue)
            #expect(result.outcome == .existing(type: "ext4"))
            #expect(!driver.calls("openat", pathContains: "raced.img").isEmpty, "the device was probed again")
            #expect(driver.calls("posix_spawn").isEmpty, "the other formatter's filesystem is kept")
        }
    }

    @Test func aBusyQueueAtTheProbeForcesANewProbe() throws {
        let dir = try TemporaryDirectory()
        let image = try sparseFile(dir("busy.img"), mebibytes: 32)
        let queue = FormatQueue(limit: 2)
        let other = try queue.acquire(timeout: .seconds(1), device: "/dev/other")
        let mark = queue.mark()
        #expect(!mark.idle)
        queue.release(other)
        try MockingDriver.with { driver in
            let result = try FilesystemFormatter().format(
                device: image, fsType: "ext4", options: [], readOnly: false, probedBlank: mark, verify: false,
                queue: queue)
            #expect(result.outcome == .formatted)
            #expect(!driver.calls("openat", pathContains: "busy.img").isEmpty, "probed again under the slot")
        }
    }
}
