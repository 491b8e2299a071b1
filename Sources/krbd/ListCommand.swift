import ArgumentParser
import KRBD

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List mapped devices (like rbd device list).", aliases: ["ls"])

    @Flag(help: "Print every attribute as JSON.")
    var json = false

    @OptionGroup var roots: RootOptions

    func run() throws {
        try reportingErrors {
            let devices = try roots.bus.mappedDevices()
            if json {
                print(try jsonText(devices))
                return
            }
            let rows = [["id", "pool", "namespace", "image", "snap", "device"]]
                + devices.map { [String($0.id), $0.pool, $0.namespace ?? "", $0.image, $0.snapshot ?? "-", $0.devicePath] }
            let widths = (0..<6).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(zip(row, widths).map { $0.0 + String(repeating: " ", count: $0.1 - $0.0.count) }.joined(separator: "  ")
                    .trimmingTrailingSpaces)
            }
        }
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
