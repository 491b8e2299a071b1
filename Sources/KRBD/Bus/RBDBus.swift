// The kernel's rbd bus: where its files are, the per-image locks, the module. Map, unmap,
// listing and doctor live in RBDBus+*.swift.
import LinuxSystem
import SystemPackage

/// The rbd bus of one host: map, find and unmap rbd images through `<sysfs>/bus/rbd`.
///
/// Every root is injectable so that tests run on fixture trees. Map and unmap of one image hold
/// a `flock` per image (in ``lockDirectory``), so that maps of different images run their
/// kernel writes at once (the kernel runs them concurrently) while two krbd callers never map
/// or unmap the same image at the same time; a new device is attributed by its identity and
/// its exact request (`config_info`), not by being the one id that appeared.
public struct RBDBus: Sendable {
    /// The sysfs root (`/sys`).
    public var sysfs: FilePath { didSet { paths = BusPaths(sysfs) } }
    /// The devtmpfs root (`/dev`).
    public var dev: FilePath
    /// The procfs root (`/proc`), for mountinfo, capabilities and holders.
    public var proc: FilePath
    /// The lock files of map and unmap live in `<lockFile>.d/`, one per image (created 0600,
    /// removed after use). Processes that must not map one image at once (an agent in a pod
    /// and `krbd` on the host) must share this path.
    public var lockFile: FilePath { didSet { lockDirectory = Self.lockDirectory(of: lockFile) } }
    /// `<lockFile>.d`: one lock file per image being mapped or unmapped.
    public private(set) var lockDirectory: FilePath
    /// Where kernel modules live (`/lib/modules`), to tell whether modprobe can work.
    public var modulesRoot: FilePath = "/lib/modules"
    /// How long to wait for an image's map lock.
    public var lockTimeout: Duration = .seconds(120)
    /// How long to retry an unmap that gets EBUSY from a transient opener before naming the
    /// holders: udev opens every new device to probe it, and probes again when a writable open
    /// is closed (after an unmount): seconds on a loaded node. Default 5 s.
    public var busyRetryWindow: Duration = .seconds(5)
    /// Whether `map` may run `modprobe rbd single_major=Y` when the bus is missing.
    public var loadsModule = true
    /// The running kernel (for option version checks); `nil` when unknown (no checks).
    package var kernel: KernelVersion?
    /// Whether map checks (and creates) `<dev>/rbd<id>`. Off only in fixture tests, which
    /// cannot make block device nodes without root.
    package var checksDeviceNode = true
    /// The bus's paths under ``sysfs``, built once (a lookup reads dozens of attributes, and
    /// each `FilePath.appending` normalizes its separators again).
    private var paths: BusPaths

    /// A bus over the given roots.
    ///
    /// - Parameters:
    ///   - sysfs: sysfs root; the bus is `<sysfs>/bus/rbd`.
    ///   - dev: devtmpfs root; devices are `<dev>/rbd<id>`.
    ///   - proc: procfs root.
    ///   - lockFile: names the lock directory (`<lockFile>.d`, made on first use); its parent must exist.
    public init(
        sysfs: FilePath = "/sys", dev: FilePath = "/dev", proc: FilePath = "/proc",
        lockFile: FilePath = "/run/krbd.lock"
    ) {
        self.sysfs = sysfs
        self.paths = BusPaths(sysfs)
        self.dev = dev
        self.proc = proc
        self.lockFile = lockFile
        self.lockDirectory = Self.lockDirectory(of: lockFile)
        self.kernel = KernelVersion.running()
    }

    // MARK: Paths

    var bus: FilePath { paths.bus }
    /// `<sysfs>/bus/rbd/devices`: the bus's list of devices, what map and unmap list.
    var devicesDirectory: FilePath { paths.devices }
    /// `<sysfs>/devices/rbd`: the directory that holds the device directories (each entry of
    /// ``devicesDirectory`` is a symlink to `../../../devices/rbd/<id>`). Attributes are read
    /// here: resolving the bus's symlink costs more than the rest of an attribute's open.
    var deviceRoot: FilePath { paths.deviceRoot }
    /// `<deviceRoot>/`, as a plain string for attribute paths.
    var deviceRootPrefix: String { paths.deviceRootPrefix }
    /// `<sysfs>/block/rbd`: the block device of id N is this and N.
    var blockPrefix: String { paths.blockPrefix }
    func deviceDirectory(_ id: Int) -> FilePath { deviceRoot.appending(String(id)) }
    /// ``deviceRoot``, opened for attribute reads relative to it (`"<id>/<name>"`); `nil` when
    /// there is no bus either (no module: nothing is mapped).
    ///
    /// - Throws: `RBDError` `.systemError` when the bus is there but its devices' directory is
    ///   not, or cannot be opened: what the bus lists could then not be read, and unknown is never
    ///   taken for "not mapped".
    func openDeviceRoot() throws(RBDError) -> CInt? {
        do {
            return try Files.openDirectory(deviceRoot)
        } catch {
            let missing = error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory
            if missing && !Files.exists(devicesDirectory) { return nil }
            throw RBDError(
                .systemError,
                "cannot open \(deviceRoot), where the kernel keeps the devices \(devicesDirectory) lists; nothing "
                    + "was done (is \(sysfs) a whole sysfs mount?)", path: deviceRoot, cause: error)
        }
    }
    func deviceNode(_ id: Int) -> FilePath { dev.appending("rbd\(id)") }

    /// The lock file of `spec`'s mappings: a hash of the whole spec (a collision only
    /// serializes two images, it never lets one image's maps run at once).
    func lockFile(for spec: ImageSpec) -> FilePath {
        let hash = String(fnv1a64(spec.description), radix: 16)
        return lockDirectory.appending(String(repeating: "0", count: 16 - hash.count) + hash + ".lock")
    }

    private static func lockDirectory(of lockFile: FilePath) -> FilePath { FilePath(lockFile.string + ".d") }

    /// Runs `body` under `spec`'s lock (see ``lockDirectory``).
    func locked<R>(_ spec: ImageSpec, _ what: @autoclosure () -> String, _ body: () throws(RBDError) -> R)
        throws(RBDError) -> R
    {
        let lock = lockFile(for: spec)
        do throws(LockFailure<RBDError>) {
            return try FileLock.withLock(lock, timeout: lockTimeout, removingFile: true, directoryMode: 0o700, body)
        } catch {
            switch error {
            case .body(let error):
                throw error
            case .lock(let cause) where cause.errno == .timedOut:
                throw RBDError(
                    .timedOut, "\(what()): another krbd process held the lock of \(spec) (\(lock)) for \(lockTimeout)",
                    path: lock, cause: cause)
            case .lock(let cause):
                throw RBDError(.systemError, "\(what()): cannot take the lock \(lock)", path: lock, cause: cause)
            }
        }
    }
}

/// `<sysfs>/bus/rbd`, `<sysfs>/devices/rbd` and what is below them.
private struct BusPaths: Sendable {
    let bus: FilePath
    let devices: FilePath
    let deviceRoot: FilePath
    let deviceRootPrefix: String
    let blockPrefix: String

    init(_ sysfs: FilePath) {
        bus = sysfs.appending("bus/rbd")
        devices = bus.appending("devices")
        deviceRoot = sysfs.appending("devices/rbd")
        deviceRootPrefix = deviceRoot.string + "/"
        blockPrefix = sysfs.appending("block").string + "/rbd"
    }
}
