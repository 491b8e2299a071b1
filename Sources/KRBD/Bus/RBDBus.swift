// The kernel's rbd bus: where its files are, the host-wide lock, the module. Map, unmap,
// listing and doctor live in RBDBus+*.swift.
import LinuxSystem
import SystemPackage

/// The rbd bus of one host: map, find and unmap rbd images through `<sysfs>/bus/rbd`.
///
/// Every root is injectable so that tests run on fixture trees. Map and unmap hold a host-wide
/// `flock` on ``lockFile`` so that the device-list diff that identifies a new mapping is not
/// disturbed by another krbd process.
public struct RBDBus: Sendable {
    /// The sysfs root (`/sys`).
    public var sysfs: FilePath
    /// The devtmpfs root (`/dev`).
    public var dev: FilePath
    /// The procfs root (`/proc`), for mountinfo, capabilities and holders.
    public var proc: FilePath
    /// The host-wide lock file serializing map and unmap (created 0600).
    public var lockFile: FilePath
    /// Where kernel modules live (`/lib/modules`), to tell whether modprobe can work.
    public var modulesRoot: FilePath = "/lib/modules"
    /// How long to wait for the host-wide lock.
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

    /// A bus over the given roots.
    ///
    /// - Parameters:
    ///   - sysfs: sysfs root; the bus is `<sysfs>/bus/rbd`.
    ///   - dev: devtmpfs root; devices are `<dev>/rbd<id>`.
    ///   - proc: procfs root.
    ///   - lockFile: the host-wide lock file; its directory must exist.
    public init(sysfs: FilePath = "/sys", dev: FilePath = "/dev", proc: FilePath = "/proc", lockFile: FilePath = "/run/krbd.lock") {
        self.sysfs = sysfs
        self.dev = dev
        self.proc = proc
        self.lockFile = lockFile
        self.kernel = KernelVersion.running()
    }

    // MARK: Paths

    var bus: FilePath { sysfs.appending("bus/rbd") }
    var devicesDirectory: FilePath { bus.appending("devices") }
    func deviceDirectory(_ id: Int) -> FilePath { devicesDirectory.appending(String(id)) }
    func deviceNode(_ id: Int) -> FilePath { dev.appending("rbd\(id)") }

    /// Runs `body` under the host-wide lock.
    func locked<R>(_ what: String, _ body: () throws(RBDError) -> R) throws(RBDError) -> R {
        do {
            return try FileLock.withLock(lockFile, timeout: lockTimeout) { () throws -> R in try body() }
        } catch let error as RBDError {
            throw error
        } catch let error as SyscallError {
            if error.errno == .timedOut {
                throw RBDError(
                    .timedOut, "\(what): another krbd process held the host lock \(lockFile) for \(lockTimeout)",
                    cause: error)
            }
            throw RBDError(.systemError, "\(what): cannot take the host lock \(lockFile)", cause: error)
        } catch {
            throw RBDError(.systemError, "\(what): \(error)")
        }
    }
}
