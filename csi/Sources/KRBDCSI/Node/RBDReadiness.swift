// Probe's question: can this host map rbd images at all? Answered by KRBD's doctor, not by code of our own.
import KRBD
import SystemPackage

/// Whether the rbd bus is usable: `<sysfs>/bus/rbd` exists, or the rbd module can be loaded.
package struct RBDReadiness: Sendable {
    /// The bus whose doctor answers.
    package var bus: RBDBus

    /// Readiness of the host whose sysfs and module trees are at the given roots.
    package init(sysfs: String = "/sys", modulesRoot: String = "/lib/modules") {
        bus = RBDBus(sysfs: FilePath(sysfs))
        bus.modulesRoot = FilePath(modulesRoot)
    }

    /// `nil` when the bus is usable; otherwise what is wrong and the fix (the doctor's `rbd module` detail).
    ///
    /// Only that check decides: the others (kernel version, keyring, /dev) make some maps fail, not all.
    package func problem() -> String? {
        let module = bus.doctor().first { $0.name == "rbd module" }
        guard let module, module.verdict == .fail else { return nil }
        return "rbd module: \(module.detail)"
    }
}
