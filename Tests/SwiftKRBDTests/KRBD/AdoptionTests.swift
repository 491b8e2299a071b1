// Issue 11 points 1 and 2, unit tier: an existing mapping is handed out only when it is what a
// fresh map of the same request would give (credentials, mode, fencing, options); the key is
// proved by the keyring entry's fingerprint, never written anywhere.
import Foundation
import SystemPackage
import Testing

@testable import KRBD
@testable import LinuxSystem
@testable import RBDVolume

@Suite struct AdoptionTests {
    let image = try! ImageSpec(pool: "rbd", image: "img")

    @Test func sha256KnownAnswers() {
        func hex(_ text: String) -> String {
            SHA256.digest(Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
        }
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Two blocks of padding (55, 56 and 64 bytes are the edges).
        #expect(
            hex(String(repeating: "a", count: 64)) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"
        )
    }

    @Test func theKeyringNameIsAFingerprintNotTheKey() throws {
        let secret = try CephSecret(base64: testKey)
        let other = try CephSecret(base64: "AQCj2YpgAAAAABAAj3Eu6c3VwOVbV9dIWmDpEw==")
        #expect(secret.fingerprint.count == 32 && secret.fingerprint.allSatisfy(\.isHexDigit))
        #expect(secret.fingerprint != other.fingerprint)
        #expect(!secret.fingerprint.contains(Base64.encode(secret.bytes).prefix(8)))
        let request = try MapRequest(
            spec: image, monitors: [localMonitor], credentials: adminCredentials(), options: MapOptions(), kernel: nil,
            secretInRequest: false)
        #expect(request.text.contains("key=client.admin.\(secret.fingerprint),"))
        #expect(!request.text.contains(testKey))
    }

    /// One map, then `map` again with `second`'s credentials and options.
    func mapTwice(
        first: MapOptions = MapOptions(), second: MapOptions = MapOptions(), secondCredentials: CephCredentials? = nil,
        existingConfig: String? = nil
    ) throws -> (Result<MapResult, RBDError>, writes: [String]) {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        return try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            if let existingConfig {
                fake.addDevice(image: "img", config: existingConfig)
            } else {
                try bus.map(image, monitors: [localMonitor], credentials: adminCredentials(), options: first)
            }
            let credentials = try secondCredentials ?? adminCredentials()
            let result = Result { () throws(RBDError) -> MapResult in
                try bus.map(image, monitors: [localMonitor], credentials: credentials, options: second)
            }
            return (result, driver.addWrites())
        }
    }

    @Test func theSameRequestReusesTheMapping() throws {
        var other = MapOptions()
        other.mountTimeout = 5  // bounds only map and unmap: not a difference
        let (result, writes) = try mapTwice(second: other)
        #expect(try result.get().newlyMapped == false && result.get().device.id == 0)
        #expect(writes.count == 1)
    }

    @Test func anotherKeyIsNeverHandedTheDevice() throws {
        // A caller with a wrong key gets a new map, which the kernel answers (the fake accepts
        // it): the existing device, mapped with the right key, is not handed out.
        let wrong = try CephCredentials(
            user: "admin", secret: CephSecret(base64: "AQCj2YpgAAAAABAAj3Eu6c3VwOVbV9dIWmDpEw=="))
        let (result, writes) = try mapTwice(secondCredentials: wrong)
        #expect(try result.get().newlyMapped && result.get().device.id == 1)
        #expect(writes.count == 2 && writes[0] != writes[1])
        // Another user with the same key is other credentials too.
        let guest = try CephCredentials(user: "guest", secret: CephSecret(base64: testKey))
        #expect(try mapTwice(secondCredentials: guest).0.get().newlyMapped)
    }

    @Test(arguments: [
        "127.0.0.1:6789 name=admin,key=client.admin rbd img",  // the rbd CLI: no fingerprint
        "127.0.0.1:6789 name=admin,secret=AQCj2YpgAAAAABAAj3Eu6c3VwOVbV9dIWmDpEw== rbd img",  // another secret
    ])
    func aMappingThatCannotProveTheKeyIsNotReused(_ config: String) throws {
        let (result, writes) = try mapTwice(existingConfig: config)
        #expect(try result.get().newlyMapped)
        #expect(writes.count == 1)
    }

    @Test func theSecretInTheRequestIsComparedWithoutLeaving() throws {
        let inline = try adminCredentials(.secretInRequest)
        let (result, writes) = try mapTwice(
            existingConfig: "127.0.0.1:6789 name=admin,secret=\(testKey),mount_timeout=30 rbd img")
        _ = writes
        // The existing mapping has the key in its request: same credentials only for a caller
        // that also sends it in the request.
        #expect(try result.get().newlyMapped)
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            fake.addDevice(image: "img", config: "127.0.0.1:6789 name=admin,secret=\(testKey),mount_timeout=30 rbd img")
            let reused = try fake.bus().map(image, monitors: [localMonitor], credentials: inline)
            #expect(!reused.newlyMapped && driver.addWrites().isEmpty)
            #expect(reused.device.configInfo?.contains(testKey) == false)
        }
    }

    @Test func aDifferentMappingIsRefusedNamingTheDevice() throws {
        var exclusive = MapOptions()
        exclusive.exclusive = true
        var readOnly = MapOptions()
        readOnly.readOnly = true
        var noshare = MapOptions()
        noshare.noshare = true
        var queue = MapOptions()
        queue.queueDepth = 256
        let cases: [(MapOptions, MapOptions, String)] = [
            (MapOptions(), exclusive, "no exclusive lock"),
            (MapOptions(), readOnly, "lacks ro"),
            (readOnly, MapOptions(), "has ro"),
            (MapOptions(), noshare, "lacks noshare"),
            (noshare, MapOptions(), "has noshare"),
            (MapOptions(), queue, "lacks queue_depth=256"),
        ]
        for (first, second, why) in cases {
            let (result, writes) = try mapTwice(first: first, second: second)
            guard case .failure(let error) = result else {
                Issue.record("\(why): the existing mapping was handed out")
                continue
            }
            #expect(error.code == .alreadyMapped, "\(why)")
            #expect(error.message.contains("rbd0") && error.message.contains(why), "\(error.message)")
            #expect(writes.count == 1, "nothing mapped anew: \(why)")
        }
    }

    @Test func fencedAttachNeverAdoptsAnUnfencedMapping() throws {
        // Issue 11.1: after a plain map, an exclusiveLock attach must not mount the unfenced
        // mapping, and a read-only attach must not get the writable one.
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            let bus = fake.bus()
            try bus.map(image, monitors: [localMonitor], credentials: adminCredentials())
            let source = RBDVolumeSource(image: image, monitors: [localMonitor], credentials: try adminCredentials())
            let provider = RBDDeviceProvider(bus: bus)
            for (fencing, readOnly) in [(Fencing.exclusiveLock, false), (.requireExclusiveLock, false), (.none, true)] {
                var fenced = source
                fenced.fencing = fencing
                let error = #expect(throws: RBDError.self) { try provider.attach(fenced, readOnly: readOnly) }
                #expect(error?.code == .alreadyMapped, "\(fencing) readOnly=\(readOnly)")
                #expect(error?.message.contains("rbd0") == true)
            }
            #expect(fake.ids() == [0], "nothing mapped or unmapped")
            #expect(driver.removeWrites().isEmpty)
            // Unfenced and read-write, as the plain map: that is what a fresh map would give.
            var unfenced = source
            unfenced.fencing = .none
            #expect(try provider.attach(unfenced, readOnly: false).newlyAttached == false)
        }
    }

    /// The kernel refuses the fenced map with EINVAL, the unfenced retry maps an image that has
    /// the exclusive-lock feature after all, and its removal fails: the error says the mapping
    /// may be left (attach then keeps its `attaching` record), and nothing else is removed.
    @Test func anUnfencedRetryThatCannotBeRemovedIsReportedAsMaybeLeft() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            // The newest rule answers first: the first add fails with EINVAL, later ones reach the
            // fake kernel; every remove fails with EIO.
            driver.fail("write", pathContains: "/bus/rbd/remove", with: .ioError)
            driver.on("write", pathContains: "/bus/rbd/add", times: 1) { _ in .fail(.invalidArgument) }
            let source = RBDVolumeSource(image: image, monitors: [localMonitor], credentials: try adminCredentials())
            let error = #expect(throws: RBDError.self) {
                try RBDDeviceProvider(bus: fake.bus()).attach(source, readOnly: false)
            }
            #expect(error?.mayHaveLeftMapping == true)
            #expect(error?.message.contains("could not be removed") == true, "\(error?.message ?? "")")
            let adds = driver.calls("write", pathContains: "/bus/rbd/add").compactMap(\.arguments.first)
            #expect(adds.count == 2 && adds[0].contains(",exclusive") && !adds[1].contains("exclusive"))
            #expect(driver.removeWrites() == ["0 force"])
            #expect(fake.ids() == [0], "the unfenced mapping is still there")
        }
    }

    @Test func aFencedMappingIsAdoptedByTheSameAttach() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        try MockingDriver.with { driver in
            fake.install(driver)
            let source = RBDVolumeSource(image: image, monitors: [localMonitor], credentials: try adminCredentials())
            let provider = RBDDeviceProvider(bus: fake.bus())
            let first = try provider.attach(source, readOnly: false)
            #expect(first.newlyAttached && first.identity.configInfo == nil)
            #expect(driver.addWrites().first?.contains(",exclusive,lock_timeout=30,") == true)
            let again = try provider.attach(source, readOnly: false)
            #expect(!again.newlyAttached && again.identity == first.identity && driver.addWrites().count == 1)
        }
    }
}

/// Issue 13: maps of different images run at once (a lock per image, not per host); each gets
/// its own device by identity, the shared keyring entry outlives every write that needs it, and
/// no lock file is left behind.
@Suite struct ConcurrentMapTests {
    @Test func mapsOfDifferentImagesRunAtOnceAndEachGetsItsOwnDevice() async throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let driver = MockingDriver()
        fake.install(driver)
        let bus = fake.bus()
        let credentials = try adminCredentials()
        let names = (0..<16).map { "img\($0)" }
        let results = try await MockingDriver.$current.withValue(driver) {
            try await withThrowingTaskGroup(of: MapResult.self) { group in
                for name in names {
                    group.addTask {
                        try bus.map(
                            ImageSpec(pool: "rbd", image: name), monitors: [localMonitor], credentials: credentials)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(Set(results.map(\.device.image)) == Set(names))
        #expect(Set(results.map(\.device.id)).count == names.count && results.allSatisfy(\.newlyMapped))
        for result in results {
            #expect(try bus.device(id: result.device.id)?.image == result.device.image)
        }
        // Every keyring entry added was unlinked exactly once, after the writes.
        #expect(driver.calls("add_key").count >= 1)
        #expect(driver.calls("add_key").count == driver.calls("keyctl_unlink").count)
        let order = driver.trace.map(\.name).filter { ["write", "keyctl_unlink"].contains($0) }
        #expect(order.last == "keyctl_unlink")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: bus.lockDirectory.string)) ?? []
        #expect(left.isEmpty, "lock files left: \(left)")
    }

    @Test func theSameImageIsStillOneMapAtATime() async throws {
        // Eight callers map one image at once: one maps, the others reuse that mapping.
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let driver = MockingDriver()
        fake.install(driver)
        let bus = fake.bus()
        let credentials = try adminCredentials()
        let spec = try ImageSpec(pool: "rbd", image: "one")
        let results = try await MockingDriver.$current.withValue(driver) {
            try await withThrowingTaskGroup(of: MapResult.self) { group in
                for _ in 0..<8 {
                    group.addTask { try bus.map(spec, monitors: [localMonitor], credentials: credentials) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(results.filter(\.newlyMapped).count == 1)
        #expect(Set(results.map(\.device.id)).count == 1 && fake.ids().count == 1)
        #expect(driver.addWrites().count == 1)
    }
}
