import ArgumentParser
import Foundation
import RBDVolume

struct ExpandCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expand",
        abstract: "Grow an attached volume's filesystem to its image's size, online (after `rbd resize`).",
        discussion: """
            The kernel learns of the new size by itself; --size waits (up to 10 s) until the device has at least that \
            many bytes. ext2/3/4 grow with resize2fs, xfs with xfs_growfs.
            """)

    @OptionGroup var volume: VolumeOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var roots: RootOptions

    @Option(help: "Bytes the device must have (wait for the kernel to see them); default: whatever it has.")
    var size: UInt64 = 0

    func run() throws {
        try reportingErrors {
            let spec = try volume.volume(connection: connection, needsCredentials: false)
            let plugin = try volume.plugin(roots: roots)
            let result = try plugin.expand(key: try plugin.key(for: spec), requiredBytes: size)
            let filesystem = result.filesystemBytes.map { ", filesystem \($0) bytes" } ?? ""
            print("expanded: \(spec.source): device \(result.deviceBytes) bytes\(filesystem)")
            print("timings: \(result.timings)")
        }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Space, inodes and condition of an attached volume (its global mount).")

    @OptionGroup var volume: VolumeOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var roots: RootOptions

    @Flag(help: "Print JSON (the library's VolumeStats).")
    var json = false

    func run() throws {
        try reportingErrors {
            let spec = try volume.volume(connection: connection, needsCredentials: false)
            let plugin = try volume.plugin(roots: roots)
            let key = try plugin.key(for: spec)
            let record = try plugin.journal.load(key)
            let stats = try plugin.stats(
                key: key, at: record.map(plugin.volumePath(of:)) ?? plugin.globalPath(key: key))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(stats), as: UTF8.self))
                return
            }
            guard let usage = stats.usage else {
                print("device: \(stats.deviceBytes ?? 0) bytes (a block volume)")
                print("condition: \(stats.condition.abnormal ? "ABNORMAL" : "normal"): \(stats.condition.message)")
                return
            }
            print("bytes: \(usage.usedBytes) used, \(usage.availableBytes) available, \(usage.totalBytes) total")
            print("inodes: \(usage.usedInodes) used, \(usage.availableInodes) available, \(usage.totalInodes) total")
            print("condition: \(stats.condition.abnormal ? "ABNORMAL" : "normal"): \(stats.condition.message)")
        }
    }
}
