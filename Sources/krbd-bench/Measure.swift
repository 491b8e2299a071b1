// Timing, medians and number formatting (no Foundation: the bench should stay as small as the
// tools it measures).
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A failure of the benchmark itself (a setup step, or a variant that did not do its job).
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Wall-clock seconds `body` took.
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    return (clock.now - start).seconds
}

/// The median (mean of the middle two for an even count); 0 for no samples.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// `value` rounded to `decimals` places, as text.
func fixed(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
    if decimals > 0 {
        let fraction = String(Int(scaled - Double(whole) * scale))
        text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
    return text
}

/// Three significant digits with a unit: `812 ns`, `4.21 µs`, `37.5 ms`, `4.20 s`.
func human(_ seconds: Double) -> String {
    let (value, unit): (Double, String) =
        seconds < 1e-6
        ? (seconds * 1e9, "ns")
        : seconds < 1e-3
            ? (seconds * 1e6, "µs")
            : seconds < 1 ? (seconds * 1e3, "ms") : (seconds, "s")
    let decimals = value < 10 ? 2 : value < 100 ? 1 : 0
    return fixed(value, decimals) + " " + unit
}

/// `a/b` as `1.02×`.
func ratio(_ a: Double, _ b: Double) -> String {
    guard b > 0 else { return "–" }
    let r = a / b
    return fixed(r, r < 0.1 ? 3 : 2) + "×"
}

/// A Markdown table.
struct MarkdownTable {
    var columns: [String]
    var rows: [[String]] = []

    init(_ columns: String...) { self.columns = columns }

    mutating func add(_ cells: String...) { rows.append(cells) }

    var text: String {
        var lines = ["| " + columns.joined(separator: " | ") + " |"]
        lines.append(
            "|" + columns.enumerated().map { $0.offset == 0 ? " --- " : " ---: " }.joined(separator: "|") + "|")
        for row in rows { lines.append("| " + row.joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n")
    }
}

/// When the first progress line was written: later ones show the seconds since (where a long
/// run spends its time).
nonisolated(unsafe) private var progressStart: ContinuousClock.Instant?

/// A progress line on standard error (never inside a timed region; from the main thread only).
func progress(_ message: String) {
    let now = ContinuousClock.now
    let start = progressStart ?? now
    progressStart = start
    let elapsed = (now - start).seconds
    let bytes = Array(("krbd-bench [\(fixed(elapsed, 1))s]: " + message + "\n").utf8)
    _ = bytes.withUnsafeBytes { system_write(2, $0) }
}

/// Writes the section to `path`, or to standard output.
func emit(_ text: String, to path: String?) throws {
    let bytes = Array((text.hasSuffix("\n") ? text : text + "\n").utf8)
    if let path {
        try Files.writeAtomically(FilePath(path), bytes, mode: 0o644)
    } else {
        _ = bytes.withUnsafeBytes { system_write(1, $0) }
    }
}

/// Runs a tool and insists on exit status 0 (`allowing` lists other accepted statuses).
@discardableResult
func runTool(_ arguments: [String], allowing: Set<CInt> = []) throws -> ProcessResult {
    let result = try Subprocess.run(arguments, timeout: .seconds(300))
    guard let code = result.exitCode, code == 0 || allowing.contains(code) else {
        throw BenchError(
            "\(arguments.joined(separator: " ")) failed (\(result.exitCode.map { "exit \($0)" } ?? "signal")): \(result.output.suffix(300))"
        )
    }
    return result
}

/// Runs `ours`, `floor` and `cli` `runs` times. Ours and the floor run in every run, taking
/// turns at going first, so that their samples pair up by run. The CLI — whose ratio has a wide
/// margin and which costs seconds a run — runs in `cliRuns` of the runs, spread evenly, and goes
/// first in them, followed by ours and the floor in turn: leftover work of the CLI (its librados
/// session ending in the monitor and OSD) lands on each of them equally often.
func takeTurns(
    runs: Int, cliRuns: Int, label: String,
    ours: () throws -> Void, floor: () throws -> Void, cli: () throws -> Void
) rethrows {
    let stride = max(1, runs / max(1, cliRuns))
    var cliRun = 0
    for run in 0..<runs {
        progress("\(label): run \(run + 1)/\(runs)")
        let withCLI = run % stride == 0 && cliRun < cliRuns
        let oursFirst: Bool
        if withCLI {
            try cli()
            oursFirst = cliRun % 2 == 0
            cliRun += 1
        } else {
            oursFirst = run % 2 == 0
        }
        if oursFirst {
            try ours()
            try floor()
        } else {
            try floor()
            try ours()
        }
    }
}

/// The median of `ours[i] / floor[i]` over the runs both have (paired by run: both ran back to
/// back, so a slow stretch of the machine slows both).
func pairedRatio(_ ours: [Double], _ floor: [Double]) -> Double {
    median(zip(ours, floor).compactMap { $1 > 0 ? $0 / $1 : nil })
}
