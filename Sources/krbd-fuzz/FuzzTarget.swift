// The registry of targets, the input helpers they share, and `require`, which turns a violated
// property into a crash libFuzzer reports.
#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// One parser under test, by the name scripts/fuzz and the corpus directory use.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable (FuzzInput) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "imagespec", run: ImageSpecFuzz.run),
        FuzzTarget(name: "monitor", run: MonitorAddressFuzz.run),
        FuzzTarget(name: "mapoptions", run: MapOptionsFuzz.run),
        FuzzTarget(name: "cephconf", run: CephConfigFuzz.run),
        FuzzTarget(name: "keyring", run: KeyringFuzz.run),
        FuzzTarget(name: "mountinfo", run: MountInfoFuzz.run),
        FuzzTarget(name: "journal", run: JournalFuzz.run),
        FuzzTarget(name: "paths", run: PathsFuzz.run),
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// One input: its bytes, and views of them the targets take apart.
struct FuzzInput {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ buffer: UnsafeBufferPointer<UInt8>) { bytes = Array(buffer) }

    /// The bytes as text (invalid UTF-8 repaired, as the library's readers repair it).
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The bytes cut at `separator` into at most `count` fields (the last one keeps the rest).
    func fields(_ separator: UInt8, count: Int) -> [String] {
        bytes.split(separator: separator, maxSplits: count - 1, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Stops the run when a property does not hold: the trap is libFuzzer's crash, with the input.
func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() { fatalError("property violated: \(message())", file: file, line: line) }
}

/// Whether `scalar` is a C0 or C1 control character or DEL (what may forge a log line or drive a terminal).
func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)
}

/// `text` in quotes with every control character (NUL and C1 too, which `debugDescription`
/// leaves raw and which would cut or garble the crash message) as `\u{…}`.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        if isControl(scalar) || scalar == "\"" || scalar == "\\" {
            out += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// Whether `text` holds `part`, byte for byte. Not Foundation's `contains`, which on Linux traps
/// on some inputs (`"éab".contains("ab\0")`: "String index is out of bounds") and finds
/// `"ab\0"` in `"ab"`.
func holds(_ text: String, _ part: String) -> Bool {
    Array(text.utf8).firstRange(of: Array(part.utf8)) != nil
}

/// A thrown error's text must quote caller input with its control characters escaped.
func requirePrintable(_ error: any Error, input: String, file: StaticString = #fileID, line: UInt = #line) {
    let text = "\(error)"
    require(
        !text.unicodeScalars.contains(where: isControl),
        "the error for \(quoted(input)) holds a control character: \(quoted(text))", file: file,
        line: line)
}

/// Everything a value shows of itself: description, debug description and `dump`.
func everythingShown(_ value: Any) -> String {
    var dumped = ""
    dump(value, to: &dumped)
    return "\(value)\n\(String(reflecting: value))\n\(dumped)"
}

/// A fresh directory for the targets that need files, under `$TMPDIR` (scripts/fuzz points that
/// at a directory it removes), made once per process.
func scratchDirectory(_ name: String) -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(base)/krbd-fuzz-\(name).XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("krbd-fuzz: cannot make a scratch directory in \(base)") }
    return String(cString: made)
}
