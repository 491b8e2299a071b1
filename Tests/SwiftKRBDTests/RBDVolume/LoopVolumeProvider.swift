// A loop-device plugin for the lifecycle tests: its "map" attaches an image file to a loop
// device; every other line of the lifecycle is BlockVolumePlugin's, shared with rbd.
import Foundation
import SystemPackage

@testable import RBDVolume

struct LoopVolumeSource: VolumeSource {
    var imageFile: FilePath
    var description: String { "loop:\(imageFile)" }
}

struct LoopIdentity: Codable, Sendable, Equatable {
    var device: String
    var backingFile: String
}

/// The loop provider's failures are the tools': a command that failed.
extension ToolFailure: DeviceProviderFailure {}

struct LoopVolumeProvider: BlockDeviceProvider {
    func volumeKey(_ source: LoopVolumeSource) -> String { "loop-" + (source.imageFile.lastComponent?.string ?? "x") }

    func validate(_ source: LoopVolumeSource) throws(ToolFailure) {}

    func attachedDevices(forKey key: String) throws(ToolFailure) -> [AttachedDevice<LoopIdentity>] { [] }

    func existingDevice(_ source: LoopVolumeSource, readOnly: Bool) throws(ToolFailure) -> AttachedDevice<LoopIdentity>?
    {
        let listing = try sh("losetup -j '\(source.imageFile)'")
        guard let line = listing.split(separator: "\n").first, let colon = line.firstIndex(of: ":") else { return nil }
        return try device(FilePath(String(line[..<colon])), source, newly: false)
    }

    func attach(_ source: LoopVolumeSource, readOnly: Bool) throws(ToolFailure) -> AttachedDevice<LoopIdentity> {
        if let found = try existingDevice(source, readOnly: readOnly) { return found }
        let path = try sh("losetup --find --show \(readOnly ? "-r " : "")'\(source.imageFile)'")
        return try device(FilePath(path.trimmingCharacters(in: .whitespacesAndNewlines)), source, newly: true)
    }

    func isAttached(_ identity: LoopIdentity) throws(ToolFailure) -> Bool {
        let name = FilePath(identity.device).lastComponent!.string
        let backing = try? String(contentsOfFile: "/sys/block/\(name)/loop/backing_file", encoding: .utf8)
        return backing?.trimmingCharacters(in: .whitespacesAndNewlines) == identity.backingFile
    }

    func detach(_ identity: LoopIdentity) throws(ToolFailure) {
        if try isAttached(identity) { try sh("losetup -d '\(identity.device)'") }
    }

    private func device(_ path: FilePath, _ source: LoopVolumeSource, newly: Bool) throws(ToolFailure)
        -> AttachedDevice<
            LoopIdentity
        >
    {
        var st = stat()
        guard stat(path.string, &st) == 0 else { throw ToolFailure(command: "stat \(path)", status: errno, output: "") }
        return AttachedDevice(
            path: path, device: DeviceNumber(rdev: st.st_rdev),
            identity: LoopIdentity(device: path.string, backingFile: source.imageFile.string), newlyAttached: newly)
    }
}

/// What a failing loop test may leave: unmounts everything below `directory` (lazily, deepest
/// first) and detaches every loop device of the image files in it.
func cleanUpLoopTest(_ directory: TemporaryDirectory) {
    let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    let targets = table.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst(4).first }
        .map(String.init).filter { $0.hasPrefix(directory.path.string) }
    for target in targets.reversed() { umount2(target, Int32(MNT_DETACH)) }
    _ = try? sh("losetup -a | grep -F '\(directory.path.string)/' | cut -d: -f1 | xargs -r -n1 losetup -d")
}
