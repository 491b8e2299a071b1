import ArgumentParser
import KRBD

struct UnmapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmap",
        abstract: "Unmap a device, by /dev/rbdN path, id, or image spec.",
        discussion: "Unmapping something that is not mapped succeeds. A spec unmaps every mapping of it.")

    @Argument(help: "/dev/rbdN, N, or [pool/[namespace/]]image[@snapshot]")
    var target: String

    @Flag(help: "Unmap even while the device is open (its I/O then fails).")
    var force = false

    @OptionGroup var roots: RootOptions

    func run() throws {
        try reportingErrors {
            let bus = roots.bus
            // Nothing to do is success (exit 0), but said: a script must not read it as "done".
            if let id = Self.deviceID(target, dev: roots.dev) {
                guard let device = try bus.device(id: id), try bus.unmap(device, force: force) == .removed else {
                    print("not mapped: \(target)")
                    return
                }
                print("unmapped: \(device.devicePath) (\(device.spec))")
            } else if target.hasPrefix("/") {
                throw RBDError(.invalidSpec, "\(target) is not an rbd device (expected \(roots.dev)/rbdN)")
            } else {
                let removed = try bus.unmap(try ImageSpec(parsing: target), force: force)
                if removed.isEmpty { print("not mapped: \(target)") }
                for device in removed { print("unmapped: \(device.devicePath) (\(device.spec))") }
            }
        }
    }

    /// `N`, `rbdN` or `<dev>/rbdN`.
    static func deviceID(_ target: String, dev: String) -> Int? {
        var name = Substring(target)
        if name.hasPrefix(dev + "/") { name = name.dropFirst(dev.count + 1) }
        if name.hasPrefix("rbd") { name = name.dropFirst(3) }
        guard !name.isEmpty, name.allSatisfy(\.isNumber) else { return nil }
        return Int(name)
    }
}
