// Helpers for the BlockMount tests: make sparse image files, attach loop devices.
import Foundation
import SystemPackage

/// Creates (or extends) a sparse file of `mebibytes` MiB.
@discardableResult
func sparseFile(_ path: FilePath, mebibytes: Int) throws -> FilePath {
    try sh("truncate -s \(mebibytes)M '\(path)'")
    return path
}

/// A loop device over an image file, detached by `detach()` (call it in a `defer`).
final class LoopDevice {
    let path: FilePath

    init(file: FilePath) throws {
        let output = try sh("losetup --find --show '\(file)'")
        path = FilePath(output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func detach() { _ = try? sh("losetup -d '\(path)'") }
}

/// Lines of /proc/self/mountinfo whose mount point is `target`.
func mountinfoLines(at target: FilePath) throws -> [String] {
    let text = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
    return text.split(separator: "\n").map(String.init).filter {
        $0.split(separator: " ").dropFirst(4).first.map(String.init) == target.string
    }
}

/// Writes a partition table with one Linux partition into an image file (no tool needed:
/// Debian's util-linux has no sfdisk). `label` is `dos` (MBR) or `gpt` (protective MBR,
/// primary header and entries; libblkid checks both CRCs).
func writePartitionTable(_ image: FilePath, label: String) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: image.string))
    defer { try? handle.close() }
    let size = try handle.seekToEnd()
    let sectors = UInt32(size / 512)
    func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    func mbr(type: UInt8, start: UInt32, count: UInt32) -> [UInt8] {
        var sector = [UInt8](repeating: 0, count: 512)
        let entry: [UInt8] = [0x00, 0, 2, 0, type, 0xFE, 0xFF, 0xFF] + le(start) + le(count)
        sector.replaceSubrange(446..<462, with: entry)
        sector[510] = 0x55
        sector[511] = 0xAA
        return sector
    }

    if label == "dos" {
        try handle.seek(toOffset: 0)
        handle.write(Data(mbr(type: 0x83, start: 2048, count: sectors - 2048)))
        return
    }
    let lastLBA = UInt64(sectors - 1)
    var entries = [UInt8](repeating: 0, count: 128 * 128)
    let linuxType: [UInt8] = [
        0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
    ]
    let entry = linuxType + [UInt8](repeating: 0x11, count: 16) + le(UInt64(2048)) + le(lastLBA - 34)
    entries.replaceSubrange(0..<entry.count, with: entry)
    var header = Array("EFI PART".utf8) + le(UInt32(0x0001_0000)) + le(UInt32(92)) + le(UInt32(0)) + le(UInt32(0))
    header += le(UInt64(1)) + le(lastLBA) + le(UInt64(34)) + le(lastLBA - 34)
    header +=
        [UInt8](repeating: 0x22, count: 16) + le(UInt64(2)) + le(UInt32(128)) + le(UInt32(128)) + le(crc32(entries))
    header.replaceSubrange(16..<20, with: le(crc32(header)))
    try handle.seek(toOffset: 0)
    handle.write(Data(mbr(type: 0xEE, start: 1, count: sectors - 1)))
    handle.write(Data(header + [UInt8](repeating: 0, count: 512 - header.count)))
    handle.write(Data(entries))
}

/// CRC-32 (IEEE 802.3, reflected), as GPT uses.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
