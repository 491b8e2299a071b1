import Foundation
import SystemPackage

/// A directory under `$TMPDIR` removed (recursively) when the value dies.
final class TemporaryDirectory {
    let path: FilePath

    init(_ label: String = "krbd-test") throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let url = URL(fileURLWithPath: base).appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = FilePath(url.path)
    }

    /// `path/relative`.
    func callAsFunction(_ relative: String) -> FilePath { path.appending(relative) }

    /// Writes `text` to `path/relative`, creating parent directories.
    @discardableResult
    func write(_ relative: String, _ text: String) throws -> FilePath {
        let file = path.appending(relative)
        try FileManager.default.createDirectory(
            atPath: file.removingLastComponent().string, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file.string))
        return file
    }

    /// Reads `path/relative` as text.
    func read(_ relative: String) throws -> String {
        try String(contentsOfFile: path.appending(relative).string, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: path.string) }
}
