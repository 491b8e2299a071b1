import ArgumentParser
import RBDVolume
import SystemPackage

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every attached volume: its journal next to the rbd bus and the mount table.",
        discussion: "--reconcile also reports drift after a restart; --repair fixes what is safe to fix.")

    @OptionGroup var roots: RootOptions

    @Option(name: .customLong("root"), help: "The node agent's root directory.")
    var root: String = "/var/lib/kubelet"

    @Option(name: .customLong("proc"), help: .hidden)
    var proc: String = "/proc"

    @Flag(help: "Also compare journals with the node and report drift.")
    var reconcile = false

    @Flag(help: "With --reconcile: finish interrupted detaches, drop journals of vanished devices.")
    var repair = false

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        try reportingErrors {
            bootstrapLogging(verbose: false)
            let plugin = RBDPlugin(bus: roots.bus)
            try VolumePluginManager().initPlugins(
                [plugin], host: VolumeHost(rootDirectory: FilePath(root), proc: FilePath(proc)))
            let statuses = try plugin.status()
            let findings = reconcile ? try plugin.reconcile(repair: repair) : []
            if json {
                print(
                    try jsonText(
                        StatusReport(volumes: statuses.map(VolumeRow.init), drift: findings.map(DriftRow.init))))
                return
            }
            let rows = statuses.map { s in
                [
                    s.key, s.phase.rawValue, s.devicePath ?? "-", s.deviceAttached ? "yes" : "no",
                    s.globalMounted ? "yes" : "no",
                    s.workloadMounts.isEmpty ? "-" : s.workloadMounts.map(\.string).joined(separator: ","),
                ]
            }
            print(textTable([["KEY", "PHASE", "DEVICE", "MAPPED", "MOUNTED", "WORKLOADS"]] + rows))
            for finding in findings where finding.kind != .consistent { print("drift: \(finding)") }
        }
    }
}

struct StatusReport: Encodable {
    var volumes: [VolumeRow]
    var drift: [DriftRow]
}

struct VolumeRow: Encodable {
    var key: String, phase: String, device: String?, mapped: Bool, mounted: Bool, workloads: [String], readOnly: Bool,
        fsType: String
    init(_ s: VolumeStatus) {
        key = s.key; phase = s.phase.rawValue; device = s.devicePath; mapped = s.deviceAttached;
        mounted = s.globalMounted
        workloads = s.workloadMounts.map(\.string); readOnly = s.readOnly; fsType = s.fsType
    }
}

struct DriftRow: Encodable {
    var key: String, kind: String, detail: String, repaired: Bool
    init(_ f: ReconcileFinding) { key = f.key; kind = f.kind.rawValue; detail = f.detail; repaired = f.repaired }
}
