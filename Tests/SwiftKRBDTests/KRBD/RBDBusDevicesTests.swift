// Reading devices from fixture trees, unmap identity checks, EBUSY and holders, doctor.
import Foundation
import SystemPackage
import Testing

@testable import KRBD
@testable import LinuxSystem

@Suite struct RBDBusDevicesTests {
    @Test func readsEveryAttributeInTheKernelsFormats() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "plain", config: "127.0.0.1:6789 name=admin,secret=\(testKey),ro rbd plain")
        fake.addDevice(id: 1, namespace: "ns1", image: "nsimg")
        fake.addDevice(id: 3, image: "snapimg", snapshot: "s1")
        try FileManager.default.createDirectory(
            atPath: fake.devices.appending("junk").string, withIntermediateDirectories: true)
        let devices = try fake.bus().mappedDevices()
        #expect(devices.map(\.id) == [0, 1, 3])
        let head = devices[0]
        #expect(head.pool == "rbd" && head.poolID == 2 && head.namespace == nil && head.image == "plain")
        #expect(head.snapshot == nil && head.snapshotID == nil && head.size == 1 << 30)
        #expect(
            head.device == DeviceNumber(major: 254, minor: 0)
                && head.features == [.layering, .exclusiveLock, .objectMap, .fastDiff, .deepFlatten])
        #expect(head.clientID == "client4104" && head.clientAddress == "127.0.0.1:0/685188785")
        #expect(head.clusterFSID == fake.fsid && head.imageID == "1035a1b2c3d4" && head.parent == "(no parent image)")
        #expect(head.configInfo == "127.0.0.1:6789 name=admin,secret=<redacted>,ro rbd plain")
        #expect(head.devicePath == fake.dev.appending("rbd0").string)
        #expect(devices[1].namespace == "ns1" && devices[1].spec.description == "rbd/ns1/nsimg")
        #expect(devices[2].snapshot == "s1" && devices[2].snapshotID == 4 && devices[2].device.minor == 48)
        let json = String(decoding: try JSONEncoder().encode(devices), as: UTF8.self)
        #expect(!json.contains(testKey))
    }

    @Test func lookupBySpecAndVanishingDevices() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "a")
        fake.addDevice(id: 1, image: "b")
        fake.addDevice(id: 2, image: "b", snapshot: "s")
        let bus = fake.bus()
        #expect(try bus.device(for: ImageSpec(parsing: "rbd/b"))?.id == 1)
        #expect(try bus.device(for: ImageSpec(parsing: "rbd/b@s"))?.id == 2)
        #expect(try bus.device(for: ImageSpec(parsing: "other/b")) == nil)
        #expect(try bus.device(for: ImageSpec(parsing: "rbd/ns/b")) == nil)
        // A device whose directory disappears while it is read is skipped.
        try MockingDriver.with { driver throws in
            driver.on("openat", pathContains: "devices/rbd/1") { _ in
                fake.removeDevice(1)
                return .fail(.noSuchFileOrDirectory)
            }
            #expect(try bus.mappedDevices().map(\.id) == [0, 2])
        }
        // The fast lookup stops at the first attribute that differs.
        try MockingDriver.with { driver throws in
            _ = try bus.device(for: ImageSpec(parsing: "rbd/a"))
            // (The scan opens `<id>/<attribute>` relative to the devices' directory, devices/rbd.)
            let opened = driver.calls("openat").compactMap(\.path).filter {
                $0.hasPrefix("2/") || $0.contains("/devices/rbd/2/")
            }
            #expect(opened.count == 1)
        }
        #expect(try RBDBus(sysfs: dir("none"), dev: fake.dev).mappedDevices().isEmpty)
    }

    /// The bus lists devices whose directories (`<sysfs>/devices/rbd/<id>`, where the bus's
    /// entries point) cannot be opened: map, unmap and lookup stop naming the directory, and
    /// nothing is taken for "not mapped". Without the bus too (no module), nothing is mapped.
    @Test func aBusWithoutItsDevicesDirectoryStopsEveryOperation() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "plain")
        let device = try #require(try fake.bus().device(id: 0))
        try FileManager.default.removeItem(atPath: fake.deviceRoot.string)
        try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            let spec = try ImageSpec(parsing: "rbd/plain")
            let lookup = #expect(throws: RBDError.self) { try bus.device(for: spec) }
            let map = #expect(throws: RBDError.self) {
                try bus.map(spec, monitors: [localMonitor], credentials: adminCredentials())
            }
            let unmap = #expect(throws: RBDError.self) { try bus.unmap(device) }
            for error in [lookup, map, unmap] {
                #expect(error?.code == .systemError && error?.message.contains(fake.deviceRoot.string) == true)
                #expect(error?.message.contains("nothing was done") == true)
            }
            #expect(driver.addWrites().isEmpty && driver.removeWrites().isEmpty)
        }
        try FileManager.default.removeItem(atPath: fake.sysfs.appending("bus/rbd").string)
        #expect(try fake.bus().device(for: ImageSpec(parsing: "rbd/plain")) == nil)
        #expect(try fake.bus().unmap(device) == .notMapped)
    }

    @Test func unmapWritesOnceAndNotMappedIsSuccess() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "plain")
        fake.addDevice(id: 1, image: "plain")
        try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            let device = try #require(try bus.device(for: ImageSpec(parsing: "rbd/plain")))
            #expect(try bus.unmap(device) == .removed)
            #expect(try bus.unmap(device) == .notMapped)
            #expect(driver.removeWrites() == ["0"])
            let removed = try bus.unmap(ImageSpec(parsing: "rbd/plain"), force: true)
            #expect(removed.map(\.id) == [1])
            #expect(driver.removeWrites() == ["0", "1 force"])
            #expect(try bus.unmap(ImageSpec(parsing: "rbd/plain")).isEmpty)
            // The kernel's ENOENT (a race with another unmapper) is success too.
            fake.addDevice(id: 5, image: "x")
            let x = try #require(try bus.device(id: 5))
            driver.fail("write", pathContains: "remove_single_major", with: .noSuchFileOrDirectory)
            #expect(try bus.unmap(x) == .notMapped)
        }
    }

    @Test func reusedIdIsNeverRemoved() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "mine")
        try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            let mine = try #require(try bus.device(id: 0))
            // Someone else unmaps it, and the kernel hands id 0 to another image.
            fake.removeDevice(0)
            fake.addDevice(id: 0, image: "theirs")
            #expect(try bus.unmap(mine, force: true) == .notMapped)
            #expect(driver.removeWrites().isEmpty)
            #expect(fake.ids() == [0])
            // Same name, other image id (recreated image): not ours either.
            fake.removeDevice(0)
            fake.addDevice(id: 0, image: "mine", imageID: "ffff")
            #expect(try bus.unmap(mine) == .notMapped)
            #expect(driver.removeWrites().isEmpty)
        }
    }

    @Test func busyIsRetriedThenNamesHolders() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 2, image: "plain")
        try dir.write("sys/block/rbd2/holders/dm-0", "")
        try dir.write(
            "proc/self/mountinfo",
            "22 1 0:5 / /dev rw - devtmpfs udev rw\n40 22 254:33 / /mnt/my\\040data rw - ext4 /dev/rbd2p1 rw\n")
        try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            let device = try #require(try bus.device(id: 2))
            // Busy twice (udev's probe), then free.
            driver.fail("write", pathContains: "remove_single_major", times: 2, with: .resourceBusy)
            #expect(try bus.unmap(device) == .removed)
            #expect(driver.removeWrites().count == 3)
        }
        fake.addDevice(id: 2, image: "plain")
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.fail("write", pathContains: "remove_single_major", with: .resourceBusy)
            let bus = fake.bus()
            let device = try #require(try bus.device(id: 2))
            do {
                try bus.unmap(device)
                Issue.record("unmap succeeded")
            } catch let error as RBDError {
                #expect(error.code == .busy && error.errno == .resourceBusy)
                #expect(error.message.contains("dm-0") && error.message.contains("/mnt/my data"))
            }
            #expect(driver.removeWrites().count >= 2)
            #expect(fake.ids() == [2])
        }
    }

    @Test func doctorReportsEveryCheck() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try dir.write("sys/module/rbd/parameters/single_major", "Y\n")
        try dir.write("proc/keys", "")
        let checks = fake.bus().doctor()
        #expect(
            checks.map(\.name) == [
                "kernel", "rbd module", "single_major", "supported features", "kernel keyring", "CAP_SYS_ADMIN", "/dev",
                "modprobe",
            ])
        let byName = Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
        #expect(byName["supported features"]?.detail.contains("object-map") == true)
        #expect(byName["single_major"]?.verdict == .ok)
        #expect(byName["CAP_SYS_ADMIN"]?.verdict == .ok)
        // The fixture /dev is not a mount point in the fixture mountinfo.
        #expect(byName["/dev"]?.verdict == .warn)
        #expect(
            RBDBus.filesystemType(in: "22 1 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw\n", mountPoint: "/dev")
                == "devtmpfs")
    }
}
