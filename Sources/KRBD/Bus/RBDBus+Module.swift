// Loading rbd.ko: once, with single_major=Y (the seed's behaviour), only where it can work.
import LinuxSystem
import SystemPackage

extension RBDBus {
    /// Makes sure `<sysfs>/bus/rbd` exists, running `modprobe rbd single_major=Y` once if not.
    ///
    /// - Throws: `RBDError` `.moduleUnavailable` when loading is off, `<modulesRoot>/<release>`
    ///   is missing (a container without the host's modules), CAP_SYS_ADMIN is missing,
    ///   modprobe is missing or fails, or the bus still does not appear.
    public func ensureModule() throws(RBDError) {
        if Files.isDirectory(bus) { return }
        let fix = "load it on the host: modprobe rbd single_major=Y"
        guard loadsModule else {
            throw RBDError(.moduleUnavailable, "the rbd module is not loaded (\(bus) is missing); \(fix)")
        }
        let release = kernel?.release ?? "(unknown)"
        let modules = modulesRoot.appending(release)
        guard Files.isDirectory(modules) else {
            throw RBDError(
                .moduleUnavailable,
                "the rbd module is not loaded (\(bus) is missing) and \(modules) does not exist, so modprobe cannot load it (a container without the host's modules?); \(fix)"
            )
        }
        guard ProcessIdentity.hasSysAdmin(proc: proc) else {
            throw RBDError(
                .moduleUnavailable, "the rbd module is not loaded and loading it needs CAP_SYS_ADMIN; \(fix)")
        }
        let result: ProcessResult
        do {
            result = try Subprocess.run(["modprobe", "rbd", "single_major=Y"], timeout: .seconds(60))
        } catch {
            throw RBDError(
                .moduleUnavailable, "the rbd module is not loaded and modprobe cannot run; \(fix)", cause: error)
        }
        guard result.succeeded else {
            let said = result.output.split(separator: "\n").first.map { ": \($0)" } ?? ""
            throw RBDError(
                .moduleUnavailable,
                "modprobe rbd single_major=Y failed (exit \(result.exitCode.map(String.init) ?? "signal"))\(said)")
        }
        guard Files.isDirectory(bus) else {
            throw RBDError(.moduleUnavailable, "modprobe rbd succeeded but \(bus) did not appear")
        }
    }
}
