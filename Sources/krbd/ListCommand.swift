import ArgumentParser
import KRBD
import LinuxSystem

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
                print(try jsonText(devices.map(ListedDevice.init)))
                return
            }
            let rows =
                [["id", "pool", "namespace", "image", "snap", "device"]]
                + devices.map {
                    [String($0.id), $0.pool, $0.namespace ?? "", $0.image, $0.snapshot ?? "-", $0.devicePath]
                }
            print(textTable(rows))
        }
    }
}

/// One device as `rbd device list --format json` prints it (`id` as a string, `namespace` empty
/// for the default, `name`, `snap` `-` for the head, `device`), so that scripts move over; the
/// attributes rbd does not print follow under their own names.
struct ListedDevice: Encodable {
    let device: MappedDevice

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        // rbd's fields, with rbd's names and types.
        try c.encode(String(device.id), forKey: Key("id"))
        try c.encode(device.pool, forKey: Key("pool"))
        try c.encode(device.namespace ?? "", forKey: Key("namespace"))
        try c.encode(device.image, forKey: Key("name"))
        try c.encode(device.snapshot ?? "-", forKey: Key("snap"))
        try c.encode(device.devicePath, forKey: Key("device"))
        // Ours, beside them.
        try c.encodeIfPresent(device.poolID, forKey: Key("poolID"))
        try c.encodeIfPresent(device.imageID, forKey: Key("imageID"))
        try c.encodeIfPresent(device.snapshotID, forKey: Key("snapshotID"))
        try c.encodeIfPresent(device.size, forKey: Key("size"))
        try c.encode(device.device, major: Key("major"), minor: Key("minor"))
        try c.encodeIfPresent(device.features?.names, forKey: Key("features"))
        try c.encodeIfPresent(device.clientID, forKey: Key("clientID"))
        try c.encodeIfPresent(device.clientAddress, forKey: Key("clientAddress"))
        try c.encodeIfPresent(device.clusterFSID, forKey: Key("clusterFSID"))
        try c.encodeIfPresent(device.parent, forKey: Key("parent"))
        try c.encodeIfPresent(device.diskSequence, forKey: Key("diskSequence"))
    }
}
