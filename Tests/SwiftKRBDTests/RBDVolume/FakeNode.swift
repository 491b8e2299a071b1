// A whole simulated node for the unit tier, behind the syscall mocks: the rbd bus of
// FakeRBDKernel, a mount table that mount(2), umount2(2) and the new mount API change and that
// statx(2) and <proc>/self/mountinfo show, and rbd block devices whose probe reads an image file
// (blank until "mkfs" ran, ext4 after). The journal, the lock files and the directories are real
// files in a temporary directory. Every intercepted call goes through `answer(_:)`: nothing
// reaches the host's mount table, rbd bus or mkfs, which matters because the suite may run as
// root. The fault-injection tests put their plan in front of it.
import Foundation
import Logging
import Synchronization
import SystemPackage
import Testing

@testable import BlockMount
@testable import KRBD
@testable import LinuxSystem
@testable import RBDVolume

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// One mount of the fake mount table.
struct FakeMount: Sendable, Equatable {
    var id: Int
    var target: String
    var device: DeviceNumber
    var root: String
    var readOnly: Bool
    var fsType: String
    var source: String
    /// The rbd device id whose filesystem this is (`nil`: not an rbd device).
    var rbdID: Int?
    /// MS_NODEV, MS_NOSUID, MS_NOEXEC as mounted (a bind inherits them, as the kernel's do).
    var lockedFlags: UInt = 0
}

/// One mkfs the lifecycle started, with what the node knew at that moment.
struct MkfsRun: Sendable {
    var operation: String
    var device: String
    /// The image had no filesystem (ground truth of the fake, not what the code believed).
    var imageWasBlank: Bool
    /// The same operation opened the device, was served the blank image, read it with pread and
    /// none of those calls was failed: what "proven blank" means here.
    var provenBlank: Bool
}

final class FakeNode: Sendable {
    static let pool = "rbd"
    static let imageName = "vol"
    static let podRW = "pod-rw"
    static let podRO = "pod-ro"
    static let fsGroup: UInt32 = 2000

    /// The temporary directory holding the whole node; immutable, removed when the node dies.
    nonisolated(unsafe) private let directory: TemporaryDirectory
    let kernel: FakeRBDKernel
    let plugin: RBDPlugin
    let spec: VolumeSpec
    let key: String
    let nodeRoot: FilePath
    /// `<journal>/<key>.json`.
    let journalPath: String
    /// `<sysfs>/bus/rbd/devices`.
    let devicesPath: String
    /// The volume's global mount point.
    let globalPath: FilePath
    /// The temporary directory with a trailing slash: everything the node owns starts with it.
    let rootPrefix: String

    /// The block device numbers `<dev>/rbd<id>` resolve to (see `blockNodes`).
    private let nodeNumbers: [Int: DeviceNumber]

    fileprivate struct Probe {
        var rbdID: Int
        var servedBlank: Bool
        var preads = 0
        var failed = false
    }

    fileprivate struct State {
        var mounts: [FakeMount] = []
        var nextMountID = 100
        var imageHasFilesystem = false
        /// A clone made by open_tree and not yet attached by move_mount.
        var pendingClone: FakeMount?
        var operation = ""
        var probe: Probe?
        /// Opens of a device node answered in this operation.
        var probes = 0
        var mkfsRuns: [MkfsRun] = []
        /// Calls the node does not simulate and refused (a new wrapper, a path outside the node).
        var unexpected: [String] = []
    }

    private let state = Mutex(State())
    /// Log lines (message and metadata) that showed the secret.
    let logLeaks = SecretLog()

    static let deviceSlots = 8

    init(transport: CephCredentials.Transport = .kernelKeyring) throws {
        _ = try Self.images.get()
        let nodes = Self.blockNodes
        guard !nodes.isEmpty else { throw FakeNodeSetupError.noBlockNode }
        directory = try TemporaryDirectory("krbd-faults")
        kernel = try FakeRBDKernel(in: directory)
        nodeRoot = directory("node")
        rootPrefix = directory.path.string + "/"
        // `<dev>/rbd<id>` must stat as a block device (formatAndMount refuses anything else) and
        // only root may make device nodes: link each slot to a real block device node. It is only
        // ever stat'ed: every open of it is answered with an image file, and mkfs and mount(2)
        // never run for real.
        var numbers: [Int: DeviceNumber] = [:]
        for slot in 0..<Self.deviceSlots {
            let node = nodes[slot % nodes.count]
            try FileManager.default.createSymbolicLink(
                atPath: kernel.dev.appending("rbd\(slot)").string, withDestinationPath: node.path)
            numbers[slot] = node.device
        }
        nodeNumbers = numbers
        // Every level is logged (the lifecycle promises no secret in its logs too) and nothing
        // printed: the handler keeps the lines that show the secret.
        let leaks = logLeaks
        var logger = Logger(label: "krbd.faults") { _ in SecretWatchingLogHandler(leaks: leaks) }
        logger.logLevel = .trace
        plugin = RBDPlugin(bus: kernel.bus(), logger: logger, lockTimeout: .milliseconds(300))
        try plugin.initialize(host: VolumeHost(rootDirectory: nodeRoot, proc: kernel.proc, logger: logger))
        let image = try ImageSpec(parsing: "\(Self.pool)/\(Self.imageName)")
        let credentials = try CephCredentials(user: "admin", secret: CephSecret(base64: testKey), transport: transport)
        spec = VolumeSpec(
            name: "data", source: RBDVolumeSource(image: image, monitors: [localMonitor], credentials: credentials))
        key = plugin.provider.volumeKey(spec.source as! RBDVolumeSource)
        journalPath = plugin.journal.directory.appending("\(key).json").string
        devicesPath = kernel.devices.string
        globalPath = plugin.globalPath(key: key)
        renderMountinfo([])
    }

    // MARK: Running operations

    /// Every call name the `system_*` wrappers report to the mocking driver. A rule per name
    /// sends each of them through `answer(_:)` (or the caller's `steer`); a wrapper added later
    /// under a new name would pass through unseen, so `run` flags names outside this list.
    static let callNames = [
        "openat", "read", "write", "fsync", "ftruncate", "fstatat", "fstat", "statx", "mkdirat", "unlinkat",
        "renameat", "readlinkat", "symlinkat", "fdopendir", "flock", "mknodat", "fchownat", "fchown", "fchmod",
        "ioctl", "mount", "umount2", "add_key", "keyctl_unlink", "posix_spawn", "uname", "pread", "posix_fadvise",
        "statvfs", "fchmodat", "open_tree", "mount_setattr", "move_mount",
    ]

    /// Calls that run as they are, with no node state behind them (a directory listing, a pause,
    /// the child-process plumbing around a simulated spawn, the tool lookup).
    static let untouchedNames: Set<String> = [
        "readdir", "getdents64", "usleep", "geteuid", "faccessat", "pipe2", "poll", "waitpid", "kill",
    ]

    /// Runs `body` with a fresh mocking driver on this node: every call goes to `steer` first
    /// (when given; `nil` from it means "let the node answer"), then to the node.
    func run<R>(
        _ operation: String, steer: (@Sendable (MockCall) -> MockOutcome?)? = nil,
        _ body: (RBDPlugin) throws -> R
    ) rethrows -> R {
        state.withLock {
            $0.operation = operation
            $0.probe = nil
            $0.probes = 0
        }
        return try MockingDriver.with { driver in
            for name in Self.callNames {
                driver.on(name) { [self] call in steer?(call) ?? answer(call) }
            }
            defer {
                let strays = Set(driver.trace.map(\.name)).subtracting(Self.callNames).subtracting(Self.untouchedNames)
                if !strays.isEmpty { state.withLock { $0.unexpected.append("unsimulated calls \(strays.sorted())") } }
            }
            return try body(plugin)
        }
    }

    /// Tells the node that a call was failed before it could answer it (probe bookkeeping).
    func failed(_ call: MockCall) {
        guard ["pread", "fstat", "openat", "read"].contains(call.name) else { return }
        state.withLock { s in
            if call.name == "openat", !isDeviceNode(call.path) { return }
            s.probe?.failed = true
        }
    }

    // MARK: What the node holds

    /// The ids that map this node's image.
    func mappedIDs() -> [Int] {
        ids().filter { id in
            func read(_ name: String) -> String? {
                (try? String(contentsOfFile: "\(devicesPath)/\(id)/\(name)", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return read("name") == Self.imageName && read("pool") == Self.pool
        }
    }

    /// The device ids present (FakeRBDKernel.ids without its FilePath arithmetic, which the node
    /// asks for on every map, mount and check).
    private func ids() -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: devicesPath)) ?? []).compactMap(Int.init).sorted()
    }

    var mounts: [FakeMount] { state.withLock { $0.mounts } }
    var mkfsRuns: [MkfsRun] { state.withLock { $0.mkfsRuns } }
    var probesThisOperation: Int { state.withLock { $0.probes } }
    var unexpectedCalls: [String] { state.withLock { $0.unexpected } }
    var imageHasFilesystem: Bool { state.withLock { $0.imageHasFilesystem } }

    /// The mounts under the node's root directory (global mounts and workload binds).
    var volumeMounts: [FakeMount] { mounts.filter { $0.target.hasPrefix(nodeRoot.string + "/") } }

    func workloadPath(_ pod: String) -> FilePath {
        (try? plugin.workloadPath(podUID: pod, volumeName: spec.name)) ?? nodeRoot.appending("pods/\(pod)")
    }

    /// The journal's record, read with Foundation (no driver needed) and decoded as Journal does;
    /// the invariants read it after every step, and the plugin's FilePath arithmetic is slow in
    /// a debug build.
    func record() throws -> JournalRecord<MappedDevice>? {
        guard let data = FileManager.default.contents(atPath: journalPath) else { return nil }
        return try Journal<MappedDevice>.decode(Array(data))
    }

    /// The raw journal file, if any.
    func journalText() -> String? { try? String(contentsOfFile: journalPath, encoding: .utf8) }

    func topMount(at path: FilePath) -> FakeMount? { topMount(at: path.string) }

    /// The library hands every call a normalized absolute path (a FilePath's string), so the
    /// fake compares targets as strings.
    private func topMount(at target: String) -> FakeMount? { mounts.last { $0.target == target } }

    /// Marks the image as holding a filesystem (a volume formatted by an earlier node).
    func formatImage() { state.withLock { $0.imageHasFilesystem = true } }

    // MARK: Snapshots

    /// The node's state at one moment: its files (the node root and the rbd devices) and the
    /// fake kernel's memory. Restoring one is much cheaper than making a node and running the
    /// operations that led there, and it keeps every path (the journal names the device node).
    struct Snapshot: Sendable {
        fileprivate var files: FilePath
        fileprivate var state: State
    }

    func snapshot() throws -> Snapshot {
        let files = directory("snapshots/\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: files.string, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: nodeRoot.string, toPath: files.appending("node").string)
        try FileManager.default.copyItem(atPath: kernel.devices.string, toPath: files.appending("devices").string)
        try FileManager.default.copyItem(atPath: kernel.deviceRoot.string, toPath: files.appending("rbd").string)
        var saved = state.withLock { $0 }
        saved.mkfsRuns = []
        saved.unexpected = []
        saved.probe = nil
        saved.pendingClone = nil
        return Snapshot(files: files, state: saved)
    }

    func restore(_ snapshot: Snapshot) throws {
        for (live, saved) in [(nodeRoot, "node"), (kernel.devices, "devices"), (kernel.deviceRoot, "rbd")] {
            try? FileManager.default.removeItem(atPath: live.string)
            try FileManager.default.copyItem(atPath: snapshot.files.appending(saved).string, toPath: live.string)
        }
        state.withLock { $0 = snapshot.state }
        logLeaks.clear()
        renderMountinfo()
    }

    // MARK: The simulated kernel

    /// The node's answer to one call.
    func answer(_ call: MockCall) -> MockOutcome {
        switch call.name {
        case "write":
            if call.path?.contains("/bus/rbd/add") == true { return add(call) }
            if call.path?.contains("/bus/rbd/remove") == true { return remove(call) }
            return passthrough(call)
        case "add_key": return .succeed(4242)
        case "keyctl_unlink": return .succeed(0)
        case "mount": return mount(call)
        case "umount2": return umount(call)
        case "open_tree": return openTree(call)
        case "mount_setattr": return mountSetattr(call)
        case "move_mount": return moveMount(call)
        case "statx": return statx(call)
        case "openat":
            if isDeviceNode(call.path) { return openDevice(call) }
            return passthrough(call)
        case "unlinkat":
            // rmdir of a mount point: the kernel refuses (the fake's mounts are not real ones).
            if let path = call.path, topMount(at: path) != nil { return .fail(.resourceBusy) }
            return passthrough(call)
        case "pread":
            state.withLock { $0.probe?.preads += 1 }
            return .passthrough
        case "posix_spawn": return spawn(call)
        // Giving the volume to a group needs CAP_CHOWN; the walk's decisions are not what is
        // tested here.
        case "fchown", "fchownat", "fchmodat": return .succeed(0)
        case "statvfs":
            // A fake mount reports its own flags (the mock's success value is f_flag).
            if let path = call.path, let top = topMount(at: path) {
                return .succeed(Int(top.lockedFlags | (top.readOnly ? UInt(MS_RDONLY) : 0)))
            }
            return passthrough(call)
        case "read", "fstat", "fstatat", "fsync", "fchmod", "ftruncate", "readlinkat", "fdopendir", "flock",
            "posix_fadvise", "mkdirat", "renameat":
            return passthrough(call)
        default:
            state.withLock { $0.unexpected.append("refused \(call)") }
            return .fail(.noFunction)
        }
    }

    /// Real calls on the node's own files only. Outside the node's directory (absolute paths;
    /// relative ones are fd-relative names inside it) a look (stat) runs, as `mkdir -p` walks up
    /// to `/` when a stat on the way failed; a mkdir of a directory that exists gets EEXIST, as
    /// it would; anything else is refused and reported.
    private func passthrough(_ call: MockCall) -> MockOutcome {
        // String prefixes, not FilePath: a debug build's FilePath checks its invariants on every
        // operation, which made this check most of the suite's time.
        guard let path = call.path, path.hasPrefix("/"), !path.hasPrefix(rootPrefix), path + "/" != rootPrefix else {
            return .passthrough
        }
        if call.name == "fstatat" || call.name == "statx" { return .passthrough }
        if call.name == "mkdirat", Self.isDirectory(path) { return .fail(.fileExists) }
        state.withLock { $0.unexpected.append("outside the node: \(call)") }
        return .fail(.permissionDenied)
    }

    func isDeviceNode(_ path: String?) -> Bool {
        guard let path else { return false }
        return path.hasPrefix(kernel.dev.string + "/rbd")
    }

    private func rbdID(ofNode path: String) -> Int? {
        guard isDeviceNode(path) else { return nil }
        return Int(path.dropFirst(kernel.dev.string.count + 4))
    }

    /// The add write: a device for the request (as FakeRBDKernel.install does).
    private func add(_ call: MockCall) -> MockOutcome {
        // The trace redacts `secret=`; the kernel keeps the request as written in config_info
        // (root only), and so does the fake: the only secret the node ever sees is the test's.
        let text = (call.arguments.first ?? "").replacing("secret=<redacted>", with: "secret=\(testKey)")
        let tokens = text.split(separator: " ").map(String.init)
        guard tokens.count >= 4 else { return .fail(.invalidArgument) }
        let namespace = tokens[1].split(separator: ",").first { $0.hasPrefix("_pool_ns=") }.map {
            String($0.dropFirst(9))
        }
        guard ids().count < Self.deviceSlots else { return .fail(.noSpace) }
        kernel.addDevice(
            pool: tokens[2], namespace: namespace ?? "", image: tokens[3], snapshot: tokens.count > 4 ? tokens[4] : nil,
            config: text)
        return .succeed(call.writtenCount ?? text.utf8.count)
    }

    /// The remove write: EBUSY while the device is mounted, unless forced.
    private func remove(_ call: MockCall) -> MockOutcome {
        let text = call.arguments.first ?? ""
        let words = text.split(separator: " ")
        guard let id = words.first.flatMap({ Int($0) }) else { return .fail(.invalidArgument) }
        guard ids().contains(id) else { return .fail(.noSuchFileOrDirectory) }
        let force = words.dropFirst().first == "force"
        if !force, mounts.contains(where: { $0.rbdID == id }) { return .fail(.resourceBusy) }
        kernel.removeDevice(id)
        return .succeed(text.utf8.count)
    }

    /// The probe's open of `<dev>/rbd<id>`: an fd on the image file its content stands for.
    private func openDevice(_ call: MockCall) -> MockOutcome {
        guard let path = call.path, let id = rbdID(ofNode: path), mappedIDs().contains(id) else {
            return .fail(.noSuchAddressOrDevice)
        }
        guard let images = try? Self.images.get() else { return .fail(.ioError) }
        let formatted = imageHasFilesystem
        let fd = open(formatted ? images.ext4 : images.blank, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .fail(.ioError) }
        state.withLock {
            $0.probe = Probe(rbdID: id, servedBlank: !formatted)
            $0.probes += 1
        }
        return .succeed(Int(fd))
    }

    /// mkfs: the image now holds a filesystem; modprobe: the module is there already (a failed
    /// stat of the bus makes map load it). A mocked spawn "succeeds" without a child, so
    /// Subprocess then reaps with waitpid(0): see FaultInjectionTests on what that can catch.
    private func spawn(_ call: MockCall) -> MockOutcome {
        let tool = call.path.flatMap { $0.split(separator: "/").last.map(String.init) } ?? ""
        if tool == "modprobe" { return .succeed(0) }
        guard tool.hasPrefix("mkfs.") else {
            state.withLock { $0.unexpected.append("refused \(call)") }
            return .fail(.permissionDenied)
        }
        let device = call.arguments.last ?? ""
        let id = rbdID(ofNode: device)
        let mapped = id.map { mappedIDs().contains($0) } ?? false
        return state.withLock { s in
            let proven = s.probe.map { $0.rbdID == id && $0.servedBlank && $0.preads > 0 && !$0.failed } ?? false
            s.mkfsRuns.append(
                MkfsRun(
                    operation: s.operation, device: device, imageWasBlank: !s.imageHasFilesystem, provenBlank: proven))
            guard mapped else { return .fail(.noSuchFileOrDirectory) }
            s.imageHasFilesystem = true
            return .succeed(0)
        }
    }

    private static let msReadOnly: UInt = 1
    private static let msRemount: UInt = 32
    private static let msBind: UInt = 4096

    private static func flags(_ call: MockCall) -> UInt {
        call.arguments.first { $0.hasPrefix("flags=") }.flatMap { UInt($0.dropFirst(6)) } ?? 0
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// A clone of the top mount at `path`, or of the directory when nothing is mounted there.
    private func cloneOf(_ path: String, _ s: State) -> FakeMount? {
        let target = path
        if let top = s.mounts.last(where: { $0.target == target }) { return top }
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FakeMount(
            id: 0, target: target, device: DeviceNumber(rdev: st.st_dev), root: "/",
            readOnly: false, fsType: "ext4", source: path, rbdID: nil)
    }

    private func mount(_ call: MockCall) -> MockOutcome {
        guard let targetPath = call.path else { return .fail(.invalidArgument) }
        let target = targetPath
        let flags = Self.flags(call)
        let source = call.arguments.first ?? "NULL"
        let outcome: MockOutcome = state.withLock { s in
            if flags & Self.msRemount != 0 {
                guard let index = s.mounts.lastIndex(where: { $0.target == target }) else {
                    return .fail(.invalidArgument)
                }
                s.mounts[index].readOnly = flags & Self.msReadOnly != 0
                return .succeed(0)
            }
            guard Self.isDirectory(targetPath) else { return .fail(.noSuchFileOrDirectory) }
            var entry: FakeMount
            if flags & Self.msBind != 0 {
                guard let clone = cloneOf(source, s) else { return .fail(.noSuchFileOrDirectory) }
                entry = clone
            } else {
                guard let id = rbdID(ofNode: source), let number = nodeNumbers[id] else {
                    return .fail(.noSuchFileOrDirectory)
                }
                guard mappedIDs().contains(id) else { return .fail(.noSuchAddressOrDevice) }
                let fsType = call.arguments.dropFirst().first ?? ""
                guard s.imageHasFilesystem, fsType == "ext4" else { return .fail(.invalidArgument) }
                entry = FakeMount(
                    id: 0, target: target, device: number, root: "/",
                    readOnly: flags & Self.msReadOnly != 0, fsType: fsType, source: source, rbdID: id,
                    lockedFlags: flags & (UInt(MS_NODEV) | UInt(MS_NOSUID) | UInt(MS_NOEXEC)))
            }
            entry.id = s.nextMountID
            entry.target = target
            s.nextMountID += 1
            s.mounts.append(entry)
            return .succeed(0)
        }
        renderMountinfo()
        return outcome
    }

    private func umount(_ call: MockCall) -> MockOutcome {
        guard let path = call.path else { return .fail(.invalidArgument) }
        let target = path
        let removed = state.withLock { s in
            guard let index = s.mounts.lastIndex(where: { $0.target == target }) else { return false }
            s.mounts.remove(at: index)
            return true
        }
        if removed {
            renderMountinfo()
            return .succeed(0)
        }
        return FileManager.default.fileExists(atPath: path) ? .fail(.invalidArgument) : .fail(.noSuchFileOrDirectory)
    }

    private func openTree(_ call: MockCall) -> MockOutcome {
        guard let path = call.path else { return .fail(.invalidArgument) }
        let cloned = state.withLock { s in
            s.pendingClone = cloneOf(path, s)
            return s.pendingClone != nil
        }
        guard cloned else { return .fail(.noSuchFileOrDirectory) }
        // A real fd, which the caller closes: it stands for the detached clone.
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        return fd < 0 ? .fail(.tooManyOpenFiles) : .succeed(Int(fd))
    }

    private func mountSetattr(_ call: MockCall) -> MockOutcome {
        let set = call.arguments.first { $0.hasPrefix("set=") }.flatMap { UInt64($0.dropFirst(4)) } ?? 0
        return state.withLock { s in
            guard s.pendingClone != nil else { return .fail(.badFileDescriptor) }
            if set & 1 != 0 { s.pendingClone?.readOnly = true }
            return .succeed(0)
        }
    }

    private func moveMount(_ call: MockCall) -> MockOutcome {
        guard let path = call.path, Self.isDirectory(path) else { return .fail(.noSuchFileOrDirectory) }
        let outcome: MockOutcome = state.withLock { s in
            guard var entry = s.pendingClone else { return .fail(.badFileDescriptor) }
            entry.id = s.nextMountID
            entry.target = path
            s.nextMountID += 1
            s.mounts.append(entry)
            s.pendingClone = nil
            return .succeed(0)
        }
        renderMountinfo()
        return outcome
    }

    /// statx: ENOENT/ENOTDIR as lstat says; otherwise success with an empty attribute mask, as a
    /// kernel before 5.8 answers: the (fake) mount table then decides what is a mount point.
    private func statx(_ call: MockCall) -> MockOutcome {
        guard let path = call.path else { return .fail(.invalidArgument) }
        var st = stat()
        if lstat(path, &st) != 0 { return .fail(Errno(rawValue: errno)) }
        return .succeed(0)
    }

    /// Writes the mount table as mountinfo into the fixture /proc.
    private func renderMountinfo(_ mounts: [FakeMount]? = nil) {
        let entries = mounts ?? self.mounts
        var lines = ["22 1 0:5 / /dev rw,nosuid - devtmpfs udev rw"]
        for m in entries {
            let target = String(decoding: MountInfo.escape(m.target), as: UTF8.self)
            let options = (m.readOnly ? "ro" : "rw") + ",nodev,nosuid"
            lines.append("\(m.id) 22 \(m.device) \(m.root) \(target) \(options) - \(m.fsType) \(m.source) rw")
        }
        try? Data((lines.joined(separator: "\n") + "\n").utf8)
            .write(to: URL(fileURLWithPath: kernel.proc.appending("self/mountinfo").string))
    }

    // MARK: Shared fixtures

    /// Block device nodes of the host, only ever stat'ed (see `init`).
    static let blockNodes: [(path: String, device: DeviceNumber)] = {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).sorted()
        // Unattached loop devices first: the least interesting target should anything go wrong.
        let ordered =
            names.filter { $0.hasPrefix("loop") && $0 != "loop-control" } + names.filter { !$0.hasPrefix("loop") }
        return ordered.compactMap { name in
            var st = stat()
            let path = "/dev/" + name
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFBLK else { return nil }
            return (path, DeviceNumber(rdev: st.st_rdev))
        }
    }()

    struct Images: Sendable {
        var blank: String
        var ext4: String
    }

    /// A 64 KiB image of zeros and a 4 MiB one with an ext4 made by mkfs.ext4 (on a regular file:
    /// no root needed), shared by every node of the process and removed at exit.
    static let images: Result<Images, FakeNodeSetupError> = {
        let base = imagesDirectory
        let images = Images(blank: base + "/blank.img", ext4: base + "/ext4.img")
        do {
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            // The blank image is small: the blank check compares every byte of the first and
            // last MiB, which a debug build does at about 17 ms per MiB.
            for (path, size) in [(images.blank, 64 << 10), (images.ext4, 4 << 20)] {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                guard truncate(path, off_t(size)) == 0 else { return .failure(.images("truncate \(path) failed")) }
            }
            try sh("mkfs.ext4 -q -F '\(images.ext4)'")
        } catch {
            return .failure(.images("\(error)"))
        }
        atexit { try? FileManager.default.removeItem(atPath: FakeNode.imagesDirectory) }
        return .success(images)
    }()

    static let imagesDirectory =
        (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/krbd-faults-images-\(getpid())"
}

/// A log handler that prints nothing and keeps each line that shows the test secret.
struct SecretWatchingLogHandler: LogHandler {
    let leaks: SecretLog
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let error = event.error.map { " \($0)" } ?? ""
        let text = "\(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 })\(error)"
        if leaksSecret(text) { leaks.append(text) }
    }
}

/// The log lines that showed the secret, shared by a node and its log handlers.
final class SecretLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
    func clear() { lines.withLock { $0 = [] } }
}

enum FakeNodeSetupError: Error, CustomStringConvertible {
    case noBlockNode
    case images(String)

    var description: String {
        switch self {
        case .noBlockNode:
            "the fake node needs one block device node in /dev to stat (none found); it is never opened"
        case .images(let why): "cannot make the probe images (mkfs.ext4 on a regular file): \(why)"
        }
    }
}
