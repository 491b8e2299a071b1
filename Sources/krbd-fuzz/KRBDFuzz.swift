// krbd-fuzz: libFuzzer targets for every parser that takes outside input (scripts/fuzz). Built
// with `-sanitize=fuzzer,address -DKRBD_LIBFUZZER` it is a libFuzzer binary; a plain build
// replays saved inputs through a target, so it always links and a crash file reproduces
// without the sanitizer.
//
//   krbd-fuzz <target> [libFuzzer flags and corpus directories]   (KRBD_LIBFUZZER builds)
//   krbd-fuzz <target> <file or directory>...                     (plain builds)
#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// The target of this process: set once in `main`, before libFuzzer calls the entry point.
/// `nonisolated(unsafe)`: libFuzzer runs inputs on the main thread only, after it is set.
nonisolated(unsafe) var selectedTarget: FuzzTarget?

/// The environment variable that names the target for processes libFuzzer starts itself
/// (`-fork`, `-minimize_crash`), whose argv no longer holds it.
let targetVariable = "KRBD_FUZZ_TARGET"

#if KRBD_LIBFUZZER
    /// libFuzzer's entry point: one input through the selected target. A violated property traps
    /// (`fatalError`), which libFuzzer reports as a crash and saves the input for.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func krbdFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        selectedTarget?.run(FuzzInput(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    // libFuzzer's driver (compiler-rt FuzzerDriver.cpp). SwiftPM links executables with
    // `--defsym main=<module>_main`, which replaces libFuzzer's own `main`, so ours must start the
    // driver; pointer and int arguments pass the same way in the Swift and C conventions.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif

@main
enum KRBDFuzz {
    static func main() {
        var arguments = CommandLine.arguments
        if arguments.count > 1, let target = FuzzTarget.named(arguments[1]) {
            selectedTarget = target
            arguments.remove(at: 1)
            setenv(targetVariable, target.name, 1)
        } else if let name = getenv(targetVariable).map({ String(cString: $0) }), let target = FuzzTarget.named(name) {
            selectedTarget = target
        } else {
            usage()
        }
        #if KRBD_LIBFUZZER
            var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            var argc = CInt(arguments.count)
            let status = cArguments.withUnsafeMutableBufferPointer { buffer in
                var argv = buffer.baseAddress
                return LLVMFuzzerRunDriver(&argc, &argv, krbdFuzzTestOneInput)
            }
            exit(status)
        #else
            replay(Array(arguments.dropFirst()))
        #endif
    }

    static func usage() -> Never {
        let names = FuzzTarget.all.map(\.name).joined(separator: " ")
        fputs("usage: krbd-fuzz <target> [libFuzzer flags | input files]\ntargets: \(names)\n", stderr)
        exit(2)
    }

    /// Runs each file (or each file of each directory) through the target once.
    static func replay(_ paths: [String]) {
        guard let target = selectedTarget, !paths.isEmpty else { usage() }
        var count = 0
        for path in paths {
            for file in filesAt(path) {
                guard let bytes = readFile(file) else {
                    fputs("krbd-fuzz: cannot read \(file)\n", stderr)
                    exit(1)
                }
                target.run(FuzzInput(bytes))
                count += 1
            }
        }
        print("krbd-fuzz: \(target.name): \(count) inputs replayed, no property violated")
    }

    private static func filesAt(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [path] }
        defer { closedir(dir) }
        var files: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { files.append(path + "/" + name) }
        }
        return files.sorted()
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            bytes += chunk.prefix(n)
            if n < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
