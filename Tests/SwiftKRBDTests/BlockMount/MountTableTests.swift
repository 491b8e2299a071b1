import Foundation
import SystemPackage
import Testing

@testable import BlockMount

@Suite struct BlockMountOptionsTests {
    @Test func libmountSplitsFlagsFromData() throws {
        let options = try MountOptions("ro,noatime,nodev,discard,data=ordered")
        #expect(options.flags == UInt(MS_RDONLY) | UInt(MS_NOATIME) | UInt(MS_NODEV))
        #expect(options.data == "discard,data=ordered")
        #expect(options.isReadOnly)
    }

    @Test func userspaceOptionsNeverReachTheKernel() throws {
        let options = try MountOptions("_netdev,nosuid,noexec,nouuid,defaults")
        #expect(options.flags == UInt(MS_NOSUID) | UInt(MS_NOEXEC))
        #expect(options.data == "nouuid")
        #expect(options.userspace == "_netdev")
    }

    @Test func emptyAndAddingData() throws {
        let empty = try MountOptions("")
        #expect(empty.flags == 0 && empty.data.isEmpty)
        #expect(empty.addingData("nouuid").data == "nouuid")
        let xfs = try MountOptions("nouuid,logbsize=256k")
        #expect(xfs.addingData("nouuid").data == "nouuid,logbsize=256k")
        #expect(xfs.hasData("logbsize") && !xfs.hasData("log"))
    }
}

@Suite struct BlockMountTableTests {
    static let fixture = """
        22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
        30 22 0:25 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        100 22 252:0 / /var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/rbd-image-img1 rw,relatime shared:50 - ext4 /dev/rbd0 rw
        101 22 252:0 / /var/lib/kubelet/pods/uid1/volumes/kubernetes.io~rbd/vol rw,relatime shared:50 - ext4 /dev/rbd0 rw
        102 22 252:0 /sub /var/lib/kubelet/pods/uid2/volumes/kubernetes.io~rbd/vol ro,nosuid,nodev,relatime shared:50 - ext4 /dev/rbd0 rw
        103 22 7:4 / /mnt/with\\040space rw,relatime - xfs /dev/loop4 rw,nouuid
        104 103 0:50 / /mnt/with\\040space/inner rw - tmpfs tmpfs rw
        105 22 252:16 / /var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/rbd-image-img2 rw - ext4 /dev/rbd1 rw

        """

    @Test func parsesEveryField() throws {
        let table = try MountTable(parsing: Self.fixture)
        #expect(table.entries.count == 8)
        let ro = try #require(table.entries.first { $0.id == 102 })
        #expect(ro.parentID == 22)
        #expect(ro.device == DeviceNumber(major: 252, minor: 0))
        #expect(ro.root == "/sub")
        #expect(ro.target == "/var/lib/kubelet/pods/uid2/volumes/kubernetes.io~rbd/vol")
        #expect(ro.fsType == "ext4" && ro.source == "/dev/rbd0")
        #expect(ro.isReadOnly && ro.hasVFSOption("nodev") && !ro.hasVFSOption("noexec"))
        #expect(ro.optionalFields == "shared:50")
    }

    @Test func unescapesSpaces() throws {
        let table = try MountTable(parsing: Self.fixture)
        let xfs = try #require(table.mounts(at: "/mnt/with space").last)
        #expect(xfs.fsType == "xfs" && xfs.fsOptions.contains("nouuid"))
        #expect(table.mounts(under: "/mnt/with space").map(\.id) == [103, 104])
        #expect(table.mounts(under: "/mnt/with").isEmpty)
    }

    @Test func mountsOfADeviceAndReferencesToAGlobalPath() throws {
        let table = try MountTable(parsing: Self.fixture)
        #expect(table.mounts(ofDevice: DeviceNumber(major: 252, minor: 0)).map(\.id) == [100, 101, 102])
        let global = FilePath("/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/rbd-image-img1")
        #expect(table.references(to: global).map(\.id) == [101, 102])
        #expect(table.references(to: "/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/rbd-image-img2").isEmpty)
        #expect(table.references(to: "/nothing/here").isEmpty)
    }

    @Test func readsTheFileUnderAnInjectedProc() throws {
        let dir = try TemporaryDirectory()
        try dir.write("proc/self/mountinfo", Self.fixture)
        let table = try MountTable.current(proc: dir("proc"))
        #expect(table.entries.count == 8)
        #expect { try MountTable.current(proc: dir("nothing")) } throws: {
            ($0 as! MountError).code == .mountTableUnreadable
        }
    }

    @Test func theRealTableHasARoot() throws {
        #expect(try MountTable.current().mounts(at: "/").isEmpty == false)
        #expect(try DeviceNumber(of: "/").major >= 0)
    }
}
