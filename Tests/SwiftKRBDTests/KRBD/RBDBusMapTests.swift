// map against the simulated driver: request strings, identity, races, rollback, errno table.
import Foundation
import SystemPackage
import Testing

@testable import KRBD
@testable import LinuxSystem

@Suite struct RBDBusMapTests {
    @Test func writesOneExactRequestAndReturnsTheNewDevice() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            let result = try fake.bus().map(
                ImageSpec(pool: "rbd", namespace: "ns1", image: "nsimg"), monitors: [localMonitor],
                credentials: adminCredentials())
            #expect(result.newlyMapped)
            #expect(result.device.id == 0 && result.device.namespace == "ns1" && result.device.image == "nsimg")
            #expect(result.device.devicePath == fake.dev.appending("rbd0").string)
            #expect(
                driver.addWrites() == [
                    "127.0.0.1:6789 name=admin,key=\(testKeyName),mount_timeout=30,_pool_ns=ns1 rbd nsimg"
                ])
            let keys = driver.calls("add_key")
            #expect(keys.count == 1 && keys[0].path == testKeyName && keys[0].arguments.first == "ceph")
            #expect(driver.calls("keyctl_unlink").count == 1)
            // The key is added before the write and unlinked after it.
            let order = driver.trace.map(\.name).filter { ["add_key", "keyctl_unlink", "write"].contains($0) }
            #expect(order == ["add_key", "write", "keyctl_unlink"])
        }
    }

    @Test func requestStrings() throws {
        let spec = try ImageSpec(parsing: "rbd/snapimg@s1")
        let mons = try MonitorAddress.parseList("[v2:127.0.0.1:3300/0,v1:127.0.0.1:6789/0],[::1]")
        var options = MapOptions()
        options.messengerMode = .crc
        options.readOnly = true
        let v2 = try MapRequest(
            spec: spec, monitors: mons, credentials: adminCredentials(), options: options, kernel: nil,
            secretInRequest: false)
        #expect(
            v2.text
                == "127.0.0.1:3300,[::1]:3300 name=admin,key=\(testKeyName),ro,mount_timeout=30,ms_mode=crc rbd snapimg s1"
        )
        options.messengerMode = nil
        options.mountTimeout = nil
        let secret = try MapRequest(
            spec: spec, monitors: mons, credentials: adminCredentials(.secretInRequest), options: options, kernel: nil,
            secretInRequest: true)
        #expect(secret.text == "127.0.0.1:6789,[::1]:6789 name=admin,secret=\(testKey),ro rbd snapimg s1")
        #expect(!String(describing: secret).contains(testKey) && !String(reflecting: secret).contains(testKey))
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains(testKey))
        let noSecret = try MapRequest(
            spec: ImageSpec(image: "plain"), monitors: mons, credentials: CephCredentials(user: "guest", secret: nil),
            options: MapOptions(), kernel: nil, secretInRequest: false)
        #expect(noSecret.text == "127.0.0.1:6789,[::1]:6789 name=guest,mount_timeout=30 rbd plain")
        // Namespaces need 4.19; a page is the limit.
        #expect(throws: RBDError.self) {
            try MapRequest(
                spec: ImageSpec(pool: "p", namespace: "n", image: "i"), monitors: mons, credentials: adminCredentials(),
                options: MapOptions(), kernel: KernelVersion(major: 4, minor: 14), secretInRequest: false)
        }
        var long = MapOptions()
        long.crushLocation = (0..<200).map { .init(type: "host\($0)", name: String(repeating: "n", count: 20)) }
        #expect(throws: RBDError.self) {
            try MapRequest(
                spec: spec, monitors: mons, credentials: adminCredentials(), options: long, kernel: nil,
                secretInRequest: false)
        }
    }

    /// Names, options, monitors and credentials that must be refused before any byte reaches sysfs.
    static let hostileInputs: [(spec: String, options: String, monitor: String, user: String)] = [
        ("rbd/img name", "", "127.0.0.1", "admin"),
        ("rbd/img\nrbd evil", "", "127.0.0.1", "admin"),
        ("rbd/n s/img", "", "127.0.0.1", "admin"),
        ("rbd/ns,ro/img", "", "127.0.0.1", "admin"),
        ("rbd/img@a b", "", "127.0.0.1", "admin"),
        ("rbd/img", "queue_depth=0", "127.0.0.1", "admin"),
        ("rbd/img", "unknown_opt", "127.0.0.1", "admin"),
        ("rbd/img", "secret=AAAA", "127.0.0.1", "admin"),
        ("rbd/img", "alloc_size=1000", "127.0.0.1", "admin"),
        ("rbd/img", "ms_mode=crc", "127.0.0.1:6789", "admin"),
        ("rbd/img", "", "127.0.0.1:3300", "admin"),
        ("rbd/img", "", "localhost", "admin"),
        ("rbd/img", "", "127.0.0.1 rbd evil", "admin"),
        ("rbd/img", "", "127.0.0.1", "admin secret=x"),
        ("rbd/img", "", "127.0.0.1", "admin,secret=x"),
    ]

    @Test(arguments: 0..<hostileInputs.count)
    func hostileInputNeverWrites(_ index: Int) throws {
        let input = Self.hostileInputs[index]
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        MockingDriver.with { driver in
            fake.install(driver)
            #expect(throws: RBDError.self) {
                let spec = try ImageSpec(parsing: input.spec)
                let options = try MapOptions(parsing: input.options)
                let monitors = try MonitorAddress.parseList(input.monitor)
                let credentials = try CephCredentials(user: input.user, secret: CephSecret(base64: testKey))
                try fake.bus().map(spec, monitors: monitors, credentials: credentials, options: options)
            }
            #expect(driver.addWrites().isEmpty)
            #expect(driver.calls("add_key").isEmpty)
        }
    }

    @Test func reusesAnExistingMappingByDefault() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "other")
        // Mapped by krbd with these credentials (the keyring name carries the key's fingerprint).
        fake.addDevice(
            id: 1, image: "plain", config: "127.0.0.1:6789 name=admin,key=\(testKeyName),mount_timeout=30 rbd plain")
        fake.addDevice(id: 2, image: "plain", snapshot: "s1")
        try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            let spec = try ImageSpec(parsing: "rbd/plain")
            let reused = try bus.map(spec, monitors: [localMonitor], credentials: adminCredentials())
            #expect(!reused.newlyMapped && reused.device.id == 1)
            #expect(driver.addWrites().isEmpty)
            #expect(throws: RBDError.self) {
                try bus.map(spec, monitors: [localMonitor], credentials: adminCredentials(), policy: .fail)
            }
            let again = try bus.map(spec, monitors: [localMonitor], credentials: adminCredentials(), policy: .mapAgain)
            #expect(again.newlyMapped && again.device.id == 3)
            // A snapshot of the same image is another identity.
            let snap = try bus.map(
                ImageSpec(parsing: "rbd/plain@s2"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(snap.newlyMapped && snap.device.snapshot == "s2")
        }
    }

    @Test func reuseNeverHandsOutTheWrongModeLockOrCluster() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(
            id: 0, image: "plain", config: "127.0.0.1:6789 name=admin,key=\(testKeyName),mount_timeout=30 rbd plain")
        try dir.write("sys/block/rbd0/ro", "0\n")
        fake.addDevice(id: 1, image: "other", config: "10.9.9.9:6789 name=admin,key=client.admin rbd other")
        try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            let plain = try ImageSpec(parsing: "rbd/plain")
            var readOnly = MapOptions()
            readOnly.readOnly = true
            let ro = #expect(throws: RBDError.self) {
                try bus.map(plain, monitors: [localMonitor], credentials: adminCredentials(), options: readOnly)
            }
            #expect(
                ro?.code == .alreadyMapped
                    && ro?.message.contains("writable, a read-only mapping was asked for") == true)
            var exclusive = MapOptions()
            exclusive.exclusive = true
            let unfenced = #expect(throws: RBDError.self) {
                try bus.map(plain, monitors: [localMonitor], credentials: adminCredentials(), options: exclusive)
            }
            #expect(unfenced?.message.contains("no exclusive lock (unfenced)") == true)
            #expect(driver.addWrites().isEmpty)
            #expect(try !bus.map(plain, monitors: [localMonitor], credentials: adminCredentials()).newlyMapped)
            // Same pool/image on another cluster (other monitors in config_info): not ours to reuse.
            let other = try bus.map(
                ImageSpec(parsing: "rbd/other"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(other.newlyMapped && other.device.id != 1)
        }
    }

    @Test func concurrentMapOfAnotherImageIsNotMistakenForOurs() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            // During our write another mapper (not holding our lock) maps "intruder" at id 0.
            fake.install(driver) { kernel in kernel.addDevice(image: "intruder") }
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(result.device.image == "plain" && result.device.id == 1)
            #expect(fake.ids() == [0, 1])
            #expect(driver.removeWrites().isEmpty)
        }
    }

    @Test func concurrentMapOfTheSameImageIsToldApartByConfigInfo() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver) { kernel in
                kernel.addDevice(image: "plain", config: "10.0.0.9:6789 name=other rbd plain")
            }
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(result.device.id == 1)
            #expect(result.device.configInfo?.hasPrefix("127.0.0.1:6789") == true)
        }
    }

    /// In a storm every other mapper's new device is new to ours too: ours reads one attribute
    /// (the name) of each of them, its own device in full, and stops there. A device of the same
    /// image made by another tool after ours (id 9) is not read at all: ours was told apart by
    /// its exact request in config_info.
    @Test func aStormsOtherDevicesCostOneAttributeEachAndTheScanStopsAtOurs() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver) { kernel in
                for index in 0..<5 { kernel.addDevice(image: "storm\(index)") }
                kernel.addDevice(id: 9, image: "plain", config: "10.0.0.9:6789 name=other rbd plain")
            }
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(result.newlyMapped && result.device.id == 5)
            #expect(result.device.configInfo?.hasPrefix("127.0.0.1:6789") == true)
            /// The attribute paths of device `id` that ours opened.
            func opened(_ id: Int) -> [String] {
                driver.calls("openat").compactMap(\.path).filter { path in
                    path.hasPrefix("\(id)/") || path.hasSuffix("/\(id)") || path.contains("/devices/rbd/\(id)/")
                }
            }
            for id in 0..<5 { #expect(opened(id) == ["\(id)/name"], "rbd\(id)") }
            #expect(opened(9).isEmpty)
            #expect(!opened(5).isEmpty)
            #expect(driver.removeWrites().isEmpty)
        }
    }

    /// With `secret=` in the request config_info is compared redacted; another tool's map of
    /// the same image with another secret (a rotated key) shows the same redacted text at a
    /// lower id. The raw text tells ours apart, and the twin is not taken.
    @Test func aTwinWithAnotherSecretIsNotTakenForOurs() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            // The newest rule answers first: during our write another tool maps the image with
            // another secret (id 0), then the kernel makes ours (id 1). The trace redacts the
            // secret: the raw texts are rebuilt from it.
            driver.on("write", pathContains: "/bus/rbd/add") { call in
                let shown = call.arguments.first ?? ""
                let other = "AQBzZmFrZW90aGVyc2VjcmV0a2V5ZXhhbXBsZQ=="
                fake.addDevice(image: "plain", config: shown.replacing("secret=<redacted>", with: "secret=\(other)"))
                fake.addDevice(image: "plain", config: shown.replacing("secret=<redacted>", with: "secret=\(testKey)"))
                return .succeed(call.writtenCount ?? shown.utf8.count)
            }
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor],
                credentials: adminCredentials(.secretInRequest))
            #expect(driver.addWrites().first?.contains("secret=<redacted>") == true)
            #expect(result.newlyMapped && result.device.id == 1)
            #expect(fake.ids() == [0, 1] && driver.removeWrites().isEmpty)
        }
    }

    @Test func clusterFSIDIsPartOfTheIdentity() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "plain", fsid: "00000000-0000-0000-0000-000000000000")
        try MockingDriver.with { driver in
            fake.install(driver)
            var options = MapOptions()
            options.clusterFSID = fake.fsid
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials(),
                options: options)
            #expect(result.newlyMapped && result.device.id == 1 && result.device.clusterFSID == fake.fsid)
            #expect(driver.addWrites().first?.contains("fsid=\(fake.fsid)") == true)
        }
    }

    /// A device removed by another tool (no host lock) between ours' listing and the add write
    /// frees its id, which the kernel hands out again to our mapping: it is found, not leaked.
    @Test func anIDFreedJustBeforeTheWriteIsFoundAsOurs() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "other")
        fake.addDevice(id: 1, image: "another")
        try MockingDriver.with { driver in
            fake.install(driver, extra: { $0.removeDevice(0) })
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(result.newlyMapped && result.device.id == 0 && result.device.image == "plain")
            #expect(driver.removeWrites().isEmpty)
            #expect(fake.ids() == [0, 1])
        }
    }

    /// The image's existing mapping vanishes during the reuse check (another tool unmapped it):
    /// map lists again before its write, so the id handed to ours is new, and found.
    @Test func anExistingMappingGoneDuringTheReuseCheckFreesAnIDThatIsFound() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "plain")
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.on("openat", pathContains: "devices/rbd/0", times: 1) { _ in
                fake.removeDevice(0)
                return .passthrough
            }
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(result.newlyMapped && result.device.id == 0)
            #expect(driver.removeWrites().isEmpty && fake.ids() == [0])
        }
    }

    /// mapAgain with an existing mapping that another tool removes while the key goes into the
    /// keyring: the listing right before the write sees it gone; ours is found on its id.
    @Test func mapAgainAfterTheExistingMappingWasRemovedFindsOurs() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "plain")
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.on("add_key", times: 1) { _ in
                fake.removeDevice(0)
                return .succeed(4242)
            }
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials(),
                policy: .mapAgain)
            #expect(result.newlyMapped && result.device.id == 0)
            #expect(driver.removeWrites().isEmpty && fake.ids() == [0])
        }
    }

    /// On such a recycled id, a device of the same image made by another request (another
    /// mapper) is not taken for ours: the map fails naming the situation and removes nothing.
    @Test func aRecycledIDWithAnotherRequestIsNotOurs() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "other")
        MockingDriver.with { driver in
            fake.install(driver)
            driver.on("write", pathContains: "/bus/rbd/add") { call in
                fake.removeDevice(0)
                fake.addDevice(id: 0, image: "plain", config: "127.0.0.1:6789 name=someone-else rbd plain")
                return .succeed(call.arguments.first?.utf8.count ?? 0)
            }
            #expect {
                try fake.bus().map(
                    ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            } throws: { ($0 as? RBDError)?.code == .identityMismatch }
            #expect(driver.removeWrites().isEmpty)
            #expect(fake.ids() == [0])
        }
    }

    @Test func unconfirmedIdentityIsRolledBack() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            // A kernel that reports another name for the device it just created for us.
            driver.on("write", pathContains: "/bus/rbd/add") { call in
                fake.addDevice(image: "not-what-we-asked", config: call.arguments.first)
                return .succeed(call.arguments.first?.utf8.count ?? 0)
            }
            do {
                try fake.bus().map(
                    ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
                Issue.record("map succeeded")
            } catch let error as RBDError {
                #expect(error.code == .identityMismatch)
                #expect(error.message.contains("removed again"))
            }
            #expect(driver.removeWrites() == ["0 force"])
            #expect(fake.ids().isEmpty)
        }
    }

    @Test func mknodFailureIsRolledBack() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.fail("mknodat", with: .notPermitted)
            var bus = fake.bus()
            bus.checksDeviceNode = true
            do {
                try bus.map(ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
                Issue.record("map succeeded")
            } catch let error as RBDError {
                #expect(error.code == .deviceNodeMissing)
                #expect(error.errno == .notPermitted && error.syscall == "mknod")
            }
            #expect(driver.removeWrites() == ["0 force"])
            #expect(fake.ids().isEmpty)
        }
    }

    @Test(.enabled(if: geteuid() == 0, "mknod needs root")) func missingNodeIsCreatedAndChecked() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            var bus = fake.bus()
            bus.checksDeviceNode = true
            let result = try bus.map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            var st = stat()
            #expect(lstat(result.device.devicePath, &st) == 0)
            #expect(st.st_mode & S_IFMT == S_IFBLK && st.st_mode & 0o777 == 0o600)
            #expect(DeviceNumber(rdev: st.st_rdev) == DeviceNumber(major: 254, minor: 0))
            // A node with the wrong numbers is refused (and the mapping rolled back).
            _ = unlink(result.device.devicePath)
            #expect(mknod(result.device.devicePath, S_IFBLK | 0o600, DeviceNumber(major: 7, minor: 0).rdev) == 0)
            _ = try bus.unmap(result.device, force: true)
            #expect(throws: RBDError.self) {
                try bus.map(ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            }
            #expect(fake.ids().isEmpty)
        }
    }

    static let errnoTable: [(Errno, RBDError.Code)] = [
        (.noSuchFileOrDirectory, .notFound), (.noSuchAddressOrDevice, .unsupportedFeatures),
        (.readOnlyFileSystem, .lockHeld), (.resourceBusy, .lockHeld), (.permissionDenied, .authenticationFailed),
        (.notPermitted, .keyringUnavailable), (.invalidArgument, .invalidOption), (.timedOut, .timedOut),
        (.noSuchProcess, .invalidMonitor), (.fileNameTooLong, .invalidSpec), (.interrupted, .interrupted),
        (Errno(rawValue: 108), .clientBlocklisted), (.operationNotSupportedByDevice, .moduleUnavailable),
        (.noMemory, .systemError), (.ioError, .systemError),
    ]

    @Test(arguments: 0..<errnoTable.count)
    func kernelErrnoBecomesATypedError(_ index: Int) throws {
        let (errno, code) = Self.errnoTable[index]
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.fail("write", pathContains: "add_single_major", with: errno)
            do {
                try fake.bus().map(
                    ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
                Issue.record("map succeeded")
            } catch let error as RBDError {
                #expect(error.code == code)
                #expect(error.errno == errno && error.syscall == "write")
                #expect(error.message.contains("rbd/plain"))
                #expect(!error.message.contains(testKey) && !error.description.contains(testKey))
            }
            #expect(driver.addWrites().count == 1)
            #expect(driver.calls("keyctl_unlink").count == 1)
            #expect(fake.ids().isEmpty)
        }
    }

    @Test func errorMessagesNameCauseAndFix() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir, supportedFeatures: "0x0000000000000003", sysAdmin: false)
        func failure(_ errno: Errno) throws -> RBDError {
            try MockingDriver.with { driver in
                fake.install(driver)
                driver.fail("write", pathContains: "add_single_major", with: errno)
                do {
                    try fake.bus().map(
                        ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
                } catch let error as RBDError { return error }
                throw RBDError(.systemError, "no error")
            }
        }
        let nxio = try failure(.noSuchAddressOrDevice)
        #expect(
            nxio.message.contains("layering, striping") && nxio.message.contains("object-map")
                && nxio.message.contains("read-only"))
        let timeout = try failure(.timedOut)
        #expect(timeout.message.contains("ms_mode") && timeout.message.contains("3300"))
        let access = try failure(.permissionDenied)
        #expect(access.message.contains("wrong key") && access.message.contains("blocklist"))
        let eperm = try failure(.notPermitted)
        #expect(eperm.code == .permissionDenied && eperm.message.contains("CAP_SYS_ADMIN"))
    }

    @Test func addKeyDeniedIsTypedAndWritesNothing() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.fail("add_key", with: .notPermitted)
            do {
                try fake.bus().map(
                    ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
                Issue.record("map succeeded")
            } catch let error as RBDError {
                #expect(error.code == .keyringUnavailable && error.syscall == "add_key")
                #expect(error.message.contains("seccomp") && error.message.contains("secretInRequest"))
            }
            #expect(driver.addWrites().isEmpty)
        }
    }

    @Test func noKeyringSupportNeverFallsBackToSecretInRequestSilently() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.fail("add_key", with: .noFunction)
            let error = #expect(throws: RBDError.self) {
                try fake.bus().map(
                    ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            }
            #expect(error?.code == .keyringUnavailable && error?.message.contains("--secret-in-request") == true)
            #expect(driver.addWrites().isEmpty)
            // Opting in sends secret=; the trace and config_info read back are redacted.
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor],
                credentials: adminCredentials(.secretInRequest))
            #expect(driver.addWrites().first?.contains("secret=<redacted>") == true)
            for call in driver.trace { #expect(!call.description.contains(testKey)) }
            #expect(result.device.configInfo?.contains("secret=<redacted>") == true)
            #expect(!String(describing: result).contains(testKey))
            #expect(driver.calls("keyctl_unlink").isEmpty)
        }
    }

    @Test func secretNeverReachesTheTraceWithTheKeyring() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            for call in driver.trace { #expect(!call.description.contains(testKey)) }
            var dumped = ""
            dump(result, to: &dumped)
            #expect(!dumped.contains(testKey))
        }
    }

    @Test func oneAtATimeMovesOnOnlyAfterATimeout() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let monitors = try MonitorAddress.parseList("10.0.0.1,10.0.0.2,10.0.0.3")
        var options = MapOptions()
        options.monitorStrategy = .oneAtATime
        try MockingDriver.with { driver in
            fake.install(driver)
            driver.fail("write", pathContains: "add_single_major", times: 2, with: .timedOut)
            let result = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: monitors, credentials: adminCredentials(), options: options)
            #expect(result.newlyMapped)
            let writes = driver.addWrites()
            #expect(writes.count == 3)
            #expect(Set(writes.map { $0.prefix { $0 != " " } }) == ["10.0.0.1:6789", "10.0.0.2:6789", "10.0.0.3:6789"])
        }
        MockingDriver.with { driver in
            fake.install(driver)
            driver.fail("write", pathContains: "add_single_major", with: .noSuchFileOrDirectory)
            #expect(throws: RBDError.self) {
                try fake.bus().map(
                    ImageSpec(parsing: "rbd/gone"), monitors: monitors, credentials: adminCredentials(),
                    options: options)
            }
            #expect(driver.addWrites().count == 1)
        }
    }

    @Test func legacyAddWhenSingleMajorIsOff() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try FileManager.default.removeItem(atPath: fake.sysfs.appending("bus/rbd/add_single_major").string)
        try MockingDriver.with { driver in
            fake.install(driver)
            _ = try fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            #expect(driver.calls("write").compactMap(\.path).filter { $0.hasSuffix("/add") }.count == 1)
        }
    }

    @Test func missingModuleWithoutModulesIsTyped() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try FileManager.default.removeItem(atPath: fake.sysfs.appending("bus/rbd").string)
        var bus = fake.bus()
        bus.modulesRoot = dir("nothing")
        do {
            try bus.map(ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials())
            Issue.record("map succeeded")
        } catch let error as RBDError {
            #expect(error.code == .moduleUnavailable && error.message.contains("modprobe rbd single_major=Y"))
        }
        bus.loadsModule = false
        #expect(throws: RBDError.self) { try bus.ensureModule() }
    }

    @Test func modprobeRunsOnceWhenTheBusIsMissing() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try FileManager.default.removeItem(atPath: fake.sysfs.appending("bus/rbd").string)
        MockingDriver.with { driver in
            driver.fail("posix_spawn", with: .noSuchFileOrDirectory)
            #expect(throws: RBDError.self) { try fake.bus().ensureModule() }
            let spawns = driver.calls("posix_spawn")
            #expect(spawns.count <= 1)
            if let spawn = spawns.first { #expect(spawn.arguments == ["rbd", "single_major=Y"]) }
        }
    }

    @Test func deadlineLowersMountTimeout() async throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let driver = MockingDriver()
        fake.install(driver)
        try await MockingDriver.$current.withValue(driver) {
            _ = try await fake.bus().map(
                ImageSpec(parsing: "rbd/plain"), monitors: [localMonitor], credentials: adminCredentials(),
                timeout: .milliseconds(4500))
        }
        #expect(driver.addWrites().first?.contains("mount_timeout=5") == true)
    }
}
