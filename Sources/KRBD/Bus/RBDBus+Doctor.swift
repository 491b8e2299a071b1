// doctor: what this host needs for krbd, each check with a verdict and a detail.
import LinuxSystem
import SystemPackage

/// One preflight check of ``RBDBus/doctor()``.
public struct DoctorCheck: Sendable, Hashable, Codable {
    /// How a check came out.
    public enum Verdict: String, Sendable, Hashable, Codable {
        /// Fine.
        case ok
        /// Works, with a caveat (see `detail`).
        case warn
        /// Mapping will fail until this is fixed.
        case fail
    }

    /// Short name, e.g. `kernel`, `rbd module`.
    public var name: String
    /// The verdict.
    public var verdict: Verdict
    /// What was found, and the fix when not ok.
    public var detail: String

    /// A check result.
    public init(name: String, verdict: Verdict, detail: String) {
        self.name = name
        self.verdict = verdict
        self.detail = detail
    }
}

extension RBDBus {
    /// Checks this host without changing it: kernel version, rbd module, single_major,
    /// supported features, kernel keyring, CAP_SYS_ADMIN, /dev on devtmpfs, modprobe.
    public func doctor() -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        func add(_ name: String, _ verdict: DoctorCheck.Verdict, _ detail: String) {
            checks.append(DoctorCheck(name: name, verdict: verdict, detail: detail))
        }

        if let kernel {
            if kernel >= KernelVersion(major: 5, minor: 17) {
                add("kernel", .ok, "\(kernel.release): every map option krbd knows is there")
            } else if kernel >= KernelVersion(major: 5, minor: 11) {
                add("kernel", .ok, "\(kernel.release): every map option krbd knows except rxbounce (5.17) is there")
            } else if kernel >= KernelVersion(major: 4, minor: 19) {
                add("kernel", .warn, "\(kernel.release): no ms_mode (msgr2) before 5.11; v1 monitors (6789) only")
            } else {
                add("kernel", .warn, "\(kernel.release): no RADOS namespaces before 4.19, and many options are missing")
            }
        } else {
            add("kernel", .warn, "cannot read the kernel version (uname)")
        }

        let loaded = Files.isDirectory(bus)
        let modules = modulesRoot.appending(kernel?.release ?? "")
        if loaded {
            add("rbd module", .ok, "loaded (\(bus) exists)")
        } else if Files.isDirectory(modules) {
            add("rbd module", .warn, "not loaded; map will run modprobe rbd single_major=Y")
        } else {
            add(
                "rbd module", .fail,
                "not loaded and \(modules) is missing: load it on the host (modprobe rbd single_major=Y)")
        }

        let single = try? Files.readAttribute(sysfs.appending("module/rbd/parameters/single_major"))
        switch single {
        case "Y"?: add("single_major", .ok, "Y (add_single_major, up to ~65536 devices)")
        case "N"?: add("single_major", .warn, "N: one major per device (about 230 devices); reload with single_major=Y")
        default:
            // Not knowable before the module is loaded: a warning, never an "ok" it cannot back.
            add(
                "single_major", .warn,
                loaded
                    ? "the module has no single_major parameter (before 3.14)"
                    : "unknown until the module is loaded (map loads it with single_major=Y)")
        }

        if let features = supportedFeatures() {
            add("supported features", .ok, "0x\(String(features.rawValue, radix: 16)): \(features)")
        } else {
            add(
                "supported features", .warn,
                loaded ? "\(bus)/supported_features is missing (before 4.11)" : "unknown until the module is loaded")
        }

        if Files.exists(proc.appending("keys")) {
            add(
                "kernel keyring", .ok, "\(proc)/keys exists; secrets go through add_key (key=client.<id>.<fingerprint>)"
            )
        } else {
            add(
                "kernel keyring", .warn,
                "\(proc)/keys is missing: add_key may be unavailable; secrets would have to go in the request")
        }

        switch ProcessIdentity.sysAdminCapability(proc: proc) {
        case true?:
            add("CAP_SYS_ADMIN", .ok, "present in this process")
        case false?:
            add("CAP_SYS_ADMIN", .fail, "missing: map and unmap need it in the initial user namespace (run as root)")
        case nil:
            // Unknown is a warning, never a "missing" it cannot back.
            add(
                "CAP_SYS_ADMIN", .warn,
                "unknown: no CapEff mask in \(proc)/self/status; map and unmap need it in the initial user namespace")
        }

        if let mountinfo = try? Files.readText(proc.appending("self/mountinfo")) {
            let type = Self.filesystemType(in: mountinfo, mountPoint: dev.string)
            switch type {
            case "devtmpfs"?: add("/dev", .ok, "\(dev) is devtmpfs: /dev/rbd<id> appears with the mapping")
            case let other?: add("/dev", .warn, "\(dev) is \(other), not devtmpfs: krbd will mknod /dev/rbd<id> itself")
            case nil: add("/dev", .warn, "\(dev) is not a mount point: krbd will mknod /dev/rbd<id> itself")
            }
        } else {
            add("/dev", .warn, "cannot read \(proc)/self/mountinfo")
        }

        if let modprobe = Subprocess.locate("modprobe") {
            add("modprobe", .ok, "\(modprobe)")
        } else {
            add(
                "modprobe", loaded ? .ok : .fail,
                loaded ? "not found (not needed: the module is loaded)" : "not found: cannot load the rbd module")
        }
        return checks
    }

    /// The filesystem type of the last mount at `mountPoint` in mountinfo text (the one
    /// mountinfo walk, `MountInfo`).
    static func filesystemType(in mountinfo: String, mountPoint: String) -> String? {
        let target = MountInfo.escape(mountPoint)[...]
        var type: String?
        MountInfo.forEachLine(Array(mountinfo.utf8)) { line in
            if line.target.elementsEqual(target) { type = line.fsType }
        }
        return type
    }
}
