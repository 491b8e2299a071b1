import ArgumentParser
import LinuxSystem
import RBDVolume

struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Map an image, format it if it is proven blank, and mount it at its global path.",
        discussion: "Idempotent: an attached volume is left as it is. Prints the global path and per-phase timings.")

    @OptionGroup var volume: VolumeOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var roots: RootOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try reportingErrors {
            let spec = try volume.volume(connection: connection, needsCredentials: true)
            let result = try volume.plugin(roots: roots).attach(spec)
            if json {
                print(try jsonText(AttachReport(result)))
            } else {
                let what =
                    result.changed
                    ? (result.formatted ? "attached (formatted \(result.fsType ?? "?"))" : "attached")
                    : "already attached"
                print("\(what): \(result.devicePath) at \(result.globalPath)")
                if let mismatch = result.fsTypeMismatch { printError("krbd: warning: \(mismatch)") }
                if !result.timings.phases.isEmpty {
                    print("timings: \(result.timings) total=\(PhaseTimings.milliseconds(result.timings.total))")
                }
            }
        }
    }
}

/// JSON shape of `krbd attach --json`.
struct AttachReport: Encodable {
    var globalPath: String
    var device: String
    var changed: Bool
    var formatted: Bool
    var fsType: String?
    var fsTypeMismatch: String?
    var timingsMs: [String: Double]

    init(_ r: AttachResult) {
        globalPath = r.globalPath.string
        device = r.devicePath.string
        changed = r.changed
        formatted = r.formatted
        fsType = r.fsType
        fsTypeMismatch = r.fsTypeMismatch
        timingsMs = r.timings.milliseconds
    }
}

extension PhaseTimings {
    /// Phase → milliseconds, for JSON.
    var milliseconds: [String: Double] {
        var out: [String: Double] = [:]
        for phase in phases { out[phase.name, default: 0] += phase.duration.milliseconds }
        return out
    }
}
