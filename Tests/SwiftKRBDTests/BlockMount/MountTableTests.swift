import Foundation
import SystemPackage
import Testing

@testable import BlockMount
@testable import LinuxSystem

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

    /// The byte-level fast path answers exactly as the libmount table does, escapes and
    /// stacked mounts included.
    @Test(arguments: [
        "/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/rbd-image-img1",
        "/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/rbd-image-img2",
        "/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/my vol",
        "/srv/data", "/mnt/with space", "/nothing/here", "/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/",
    ])
    func referenceTargetsMatchTheLibmountTable(global: String) throws {
        let text =
            Self.fixture + """
                110 22 252:32 / /var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/my\\040vol rw - ext4 /dev/rbd2 rw
                111 22 252:32 / /var/lib/kubelet/pods/a\\011b/volumes/kubernetes.io~rbd/v\\134x rw - ext4 /dev/rbd2 rw
                120 22 8:1 /data /srv/data rw - ext4 /dev/sda1 rw
                121 22 8:1 /database /srv/db rw - ext4 /dev/sda1 rw
                122 22 8:1 /data/x /srv/x rw - ext4 /dev/sda1 rw
                123 120 252:48 / /srv/data rw - ext4 /dev/rbd3 rw
                124 22 252:48 / /srv/data-bind rw - ext4 /dev/rbd3 rw
                malformed line
                125 22 x:y / /bad rw - ext4 /dev/bad rw

                """
        let dir = try TemporaryDirectory()
        try dir.write("proc/self/mountinfo", text)
        let table = try MountTable.libmount(parsing: text)
        let fast = try MountTable.referenceTargets(to: FilePath(global), proc: dir("proc"))
        #expect(fast == table.references(to: FilePath(global)).map(\.target))
    }

    /// The table is the walk's; libmount reads every field of every line the same way: the
    /// fixture's escapes, stacked mounts and optional fields, and this host's own table.
    @Test func theWalkReadsEveryEntryAsLibmountDoes() throws {
        let tricky =
            Self.fixture + """
                110 22 252:32 / /k/mounts/my\\040vol rw - ext4 /dev/rbd2 rw
                111 22 252:32 /a\\011b /k/pods/v\\134x rw,nodev shared:3 master:1 - ext4 /dev/rbd2 rw,stripe=4
                112 22 0:44 / /run/none rw - tmpfs none rw,size=10k
                113 22 0:45 / /run/nosource rw - tmpfs

                """
        let live = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        for text in [tricky, live] {
            let walked = try MountTable(parsing: text).entries
            let oracle = try MountTable.libmount(parsing: text).entries
            #expect(walked.count == oracle.count)
            for (ours, theirs) in zip(walked, oracle) { #expect(ours == theirs) }
        }
    }

    @Test func referenceTargetsOfTheTrickyPaths() throws {
        let dir = try TemporaryDirectory()
        try dir.write(
            "proc/self/mountinfo",
            """
            110 22 252:32 / /k/mounts/my\\040vol rw - ext4 /dev/rbd2 rw
            111 22 252:32 / /k/pods/a\\011b/v\\134x rw - ext4 /dev/rbd2 rw
            120 22 8:1 /data /srv/data rw - ext4 /dev/sda1 rw
            121 22 8:1 /database /srv/db rw - ext4 /dev/sda1 rw
            122 22 8:1 /data/x /srv/x rw - ext4 /dev/sda1 rw

            """)
        #expect(try MountTable.referenceTargets(to: "/k/mounts/my vol", proc: dir("proc")) == ["/k/pods/a\tb/v\\x"])
        // Component-wise: /database is not under /data.
        #expect(try MountTable.referenceTargets(to: "/srv/data", proc: dir("proc")) == ["/srv/x"])
        #expect(MountInfo.unescape(MountInfo.escape("a b\tc\\d\ne")[...]) == "a b\tc\\d\ne")
        #expect(MountInfo.unescape(Array("\\777 \\04".utf8)[...]) == "\\777 \\04", "not an escape the kernel writes")
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
