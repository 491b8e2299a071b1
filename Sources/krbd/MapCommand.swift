import ArgumentParser
#if canImport(FoundationEssentials)
    import FoundationEssentials  // JSONEncoder without the ICU-heavy Foundation: keeps krbd's RSS small
#else
    import Foundation
#endif
import KRBD

struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Map an image (or snapshot) and print its device path.",
        discussion: "An image that is already mapped is reused: its device is printed again.")

    @Argument(help: "[pool/[namespace/]]image[@snapshot]")
    var spec: String

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var roots: RootOptions

    @Option(name: .short, help: "Map options, comma-separated (as rbd device map -o).")
    var options: String?

    @Flag(name: .customLong("read-only"), help: "Map read-only (ro).")
    var readOnly = false

    @Flag(help: "Take the exclusive lock and refuse to hand it over.")
    var exclusive = false

    @Flag(help: "Print the device as JSON.")
    var json = false

    func run() throws {
        try reportingErrors {
            let spec = try ImageSpec(parsing: spec)
            var mapOptions = MapOptions()
            if let options { try mapOptions.apply(options) }
            if readOnly { mapOptions.readOnly = true }
            if exclusive { mapOptions.exclusive = true }
            let result = try roots.bus.map(
                spec, monitors: try connection.resolveMonitors(), credentials: try connection.resolveCredentials(),
                options: mapOptions)
            if json {
                print(try jsonText(result.device))
            } else {
                print(result.device.devicePath)
            }
        }
    }
}

/// Pretty, sorted JSON.
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
