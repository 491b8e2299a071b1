// A fixture sysfs/dev/proc tree and a simulated rbd driver behind MockingDriver: the add write
// creates devices/rbd/<id>/ (and its bus entry) with the attributes (formats as measured on 6.1,
// lab/NOTES.md), the remove write deletes it.
import Foundation
import SystemPackage
import Testing

@testable import KRBD
@testable import LinuxSystem

/// A cephx key used by the tests (40 base64 characters, 28 bytes, like a real one).
let testKey = "AQBRxPVmAAAAABAAk3UqyxIv8Pq9fm3yBjLjhg=="
/// The kernel keyring name of `testKey` for client.admin: `client.admin.<fingerprint>`.
let testKeyName = "client.admin." + (try! CephSecret(base64: testKey)).fingerprint

/// The simulated driver's own lock: the kernel hands out ids atomically, so concurrent add and
/// remove writes (maps of different images run at once) are serialized here as there.
private let fakeKernelLock = NSLock()

struct FakeRBDKernel: Sendable {
    let root: FilePath
    let sysfs: FilePath
    let dev: FilePath
    let proc: FilePath
    let fsid = "6a0f6e2c-7c4f-4a55-9d55-3e1b0c1d2e3f"

    /// `directory` must outlive the fake.
    init(in directory: TemporaryDirectory, supportedFeatures: String = "0x00000000000001bf", sysAdmin: Bool = true)
        throws
    {
        root = directory.path
        sysfs = directory("sys")
        dev = directory("dev")
        proc = directory("proc")
        try directory.write("sys/bus/rbd/add_single_major", "")
        try directory.write("sys/bus/rbd/remove_single_major", "")
        try directory.write("sys/bus/rbd/add", "")
        try directory.write("sys/bus/rbd/remove", "")
        try directory.write("sys/bus/rbd/supported_features", supportedFeatures + "\n")
        for tree in ["sys/bus/rbd/devices", "sys/devices/rbd"] {
            try FileManager.default.createDirectory(atPath: directory(tree).string, withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: dev.string, withIntermediateDirectories: true)
        try directory.write(
            "proc/self/status", "Name:\tkrbd\nCapEff:\t\(sysAdmin ? "000001ffffffffff" : "0000000000000000")\n")
        try directory.write("proc/self/mountinfo", "22 1 0:5 / /dev rw,nosuid - devtmpfs udev rw\n")
        try directory.write("lib/modules/6.1.0-27-amd64/modules.dep", "")
    }

    /// A bus over the fixture tree, kernel 6.1, no device-node check (no root needed).
    func bus() -> RBDBus {
        var bus = RBDBus(sysfs: sysfs, dev: dev, proc: proc, lockFile: root.appending("krbd.lock"))
        bus.kernel = KernelVersion(release: "6.1.0-27-amd64")
        bus.modulesRoot = root.appending("lib/modules")
        bus.checksDeviceNode = false
        bus.busyRetryWindow = .milliseconds(400)  // two busy answers fit even on a loaded machine
        return bus
    }

    /// `<sysfs>/bus/rbd/devices`: a symlink per device, as the kernel's bus lists it.
    var devices: FilePath { sysfs.appending("bus/rbd/devices") }
    /// `<sysfs>/devices/rbd`: the device directories the bus's symlinks point to.
    var deviceRoot: FilePath { sysfs.appending("devices/rbd") }

    /// The ids present in the fixture.
    func ids() -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: devices.string)) ?? []).compactMap(Int.init).sorted()
    }

    /// Creates `devices/rbd/<id>/` and its bus entry (`bus/rbd/devices/<id>`, a symlink to
    /// `../../../devices/rbd/<id>`) as the 6.1 kernel shows them.
    @discardableResult
    func addDevice(
        id: Int? = nil, pool: String = "rbd", namespace: String = "", image: String, snapshot: String? = nil,
        imageID: String = "1035a1b2c3d4", fsid: String? = nil, config: String? = nil
    ) -> Int {
        let id = id ?? (0...).first { !ids().contains($0) }!
        let dir = deviceRoot.appending("\(id)").string
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try! FileManager.default.createSymbolicLink(
            atPath: devices.appending("\(id)").string, withDestinationPath: "../../../devices/rbd/\(id)")
        let attributes: [String: String] = [
            "pool": pool, "pool_id": "2", "pool_ns": namespace, "name": image, "image_id": imageID,
            "current_snap": snapshot ?? "-", "snap_id": snapshot == nil ? "18446744073709551614" : "4",
            "size": "1073741824", "features": "0x000000000000003d", "major": "254", "minor": "\(id << 4)",
            "client_id": "client4104", "client_addr": "127.0.0.1:0/685188785", "cluster_fsid": fsid ?? self.fsid,
            "parent": "(no parent image)",
            "config_info": config ?? "127.0.0.1:6789 name=admin,key=client.admin \(pool) \(image)",
            "refresh": "", "uevent": "",
        ]
        for (name, value) in attributes {
            try! Data((value + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        return id
    }

    func removeDevice(_ id: Int) {
        try? FileManager.default.removeItem(atPath: devices.appending("\(id)").string)
        try? FileManager.default.removeItem(atPath: deviceRoot.appending("\(id)").string)
    }

    /// Installs the simulated driver: add creates a device from the request, remove deletes it.
    /// `extra` runs during the add write (to simulate a concurrent mapper).
    func install(
        _ driver: MockingDriver, fsid: String? = nil, extra: (@Sendable (FakeRBDKernel) -> Void)? = nil
    ) {
        let fake = self
        driver.on("add_key") { _ in .succeed(4242) }
        driver.on("keyctl_unlink") { _ in .succeed(0) }
        driver.on("write", pathContains: "/bus/rbd/add") { call in
            let text = call.arguments.first ?? ""
            let tokens = text.split(separator: " ").map(String.init)
            guard tokens.count >= 4 else { return .fail(.invalidArgument) }
            let options = tokens[1].split(separator: ",")
            let namespace = options.first { $0.hasPrefix("_pool_ns=") }.map { String($0.dropFirst(9)) } ?? ""
            extra?(fake)
            fakeKernelLock.lock()
            defer { fakeKernelLock.unlock() }
            fake.addDevice(
                pool: tokens[2], namespace: namespace, image: tokens[3], snapshot: tokens.count > 4 ? tokens[4] : nil,
                fsid: fsid, config: text)
            // The trace redacts secret= values: answer with the size really written.
            return .succeed(call.writtenCount ?? text.utf8.count)
        }
        driver.on("write", pathContains: "/bus/rbd/remove") { call in
            let text = call.arguments.first ?? ""
            guard let id = Int(text.split(separator: " ").first ?? "") else { return .fail(.invalidArgument) }
            fakeKernelLock.lock()
            defer { fakeKernelLock.unlock() }
            guard fake.ids().contains(id) else { return .fail(.noSuchFileOrDirectory) }
            fake.removeDevice(id)
            return .succeed(text.utf8.count)
        }
    }
}

extension MockCall {
    /// The byte count of a traced write (`count=N`).
    var writtenCount: Int? { arguments.dropFirst().first { $0.hasPrefix("count=") }.flatMap { Int($0.dropFirst(6)) } }
}

extension MockingDriver {
    /// The texts written to the add control files.
    func addWrites() -> [String] { calls("write", pathContains: "/bus/rbd/add").compactMap(\.arguments.first) }
    /// The texts written to the remove control files.
    func removeWrites() -> [String] { calls("write", pathContains: "/bus/rbd/remove").compactMap(\.arguments.first) }
}

/// Test credentials (admin, the test key).
func adminCredentials(_ transport: CephCredentials.Transport = .kernelKeyring) throws -> CephCredentials {
    try CephCredentials(user: "admin", secret: CephSecret(base64: testKey), transport: transport)
}

let localMonitor = try! MonitorAddress(parsing: "127.0.0.1:6789")
