// Running tools from tests (losetup, mkfs, the krbd binary). The product itself never execs
// anything but mkfs and modprobe; tests may.
import Foundation

struct ToolFailure: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var output: String
    var description: String { "`\(command)` exited \(status): \(output)" }
}

/// Runs `executable` with `arguments`; returns its exit status and stdout+stderr.
func runTool(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs `command` with /bin/sh; throws when it exits non-zero (or /bin/sh cannot run, status
/// -1). Returns stdout+stderr.
@discardableResult
func sh(_ command: String) throws(ToolFailure) -> String {
    let status: Int32
    let output: String
    do {
        (status, output) = try runTool("/bin/sh", ["-c", command])
    } catch {
        throw ToolFailure(command: command, status: -1, output: "\(error)")
    }
    if status != 0 { throw ToolFailure(command: command, status: status, output: output) }
    return output
}
