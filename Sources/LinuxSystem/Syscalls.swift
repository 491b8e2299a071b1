// The one syscall layer. Every side-effecting libc or CSupport call of the package has exactly
// one wrapper here, named after the C call with a `system_` prefix. A wrapper returns the raw
// C result and leaves `errno` set; the caller turns -1 into `Errno` at once (see `SyscallError`)
// and decides the EINTR policy itself: a sysfs control write is never retried blindly.
// In debug builds each wrapper first asks the task's `MockingDriver` (see Mocking.swift).
// This file holds the plumbing the wrappers share; the wrappers live by subject in
// `Syscalls+Files`, `+Mounts`, `+Devices`, `+Keyring`, `+Processes`, `+Identity` and `+Time`.
import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// The calling thread's `errno`.
package func system_errno() -> CInt { errno }

/// Asks the mocking driver of the current task about a call; `nil` means "run the real call".
/// `name` is the C name of the call (`"fchmodat"`), or `#function` of the calling wrapper, which
/// names it too (`system_write(_:_:)` → `write`). `path` and `arguments` are built only when a
/// driver is installed (the ownership walk calls this per directory entry). Shared by every
/// `Syscalls*.swift` file.
@inline(__always)
func mocked(
    _ name: String, path: @autoclosure () -> String? = nil, fd: CInt? = nil,
    _ arguments: @autoclosure () -> [String] = []
) -> Int? {
    #if ENABLE_MOCKING
        guard let driver = MockingDriver.current else { return nil }
        var call = Substring(name)
        if call.hasPrefix("system_") {
            call = call.dropFirst(7)
            if let paren = call.firstIndex(of: "(") { call = call[..<paren] }
        }
        switch driver.intercept(String(call), path: path(), fd: fd, arguments: arguments()) {
        case .passthrough: return nil
        case .fail(let error):
            errno = error.rawValue
            return -1
        case .succeed(let value): return value
        }
    #else
        return nil
    #endif
}

/// Tells the mocking driver which path an fd was opened with.
@inline(__always)
func rememberOpen(_ fd: CInt, _ path: @autoclosure () -> String) {
    #if ENABLE_MOCKING
        if fd >= 0, let driver = MockingDriver.current { driver.opened(fd, path: path()) }
    #endif
}

/// Renders a buffer for the mock trace: text when it is printable, else its size.
func render(_ buffer: UnsafeRawBufferPointer) -> String {
    let bytes = Array(buffer.prefix(512))
    if bytes.allSatisfy({ $0 == 9 || $0 == 10 || (32..<127).contains($0) }) {
        return redactingSecrets(String(decoding: bytes, as: UTF8.self))
    }
    return "<\(buffer.count) bytes>"
}

/// `text` with the value of every `secret=` option replaced by `<redacted>` (an rbd add
/// request may carry one): the mock trace shows up in test and CI output.
package func redactingSecrets(_ text: String) -> String {
    guard mayHoldSecret(text) else { return text }
    var out = ""
    var rest = Substring(text)
    while let range = rest.firstRange(of: "secret=") {
        out += rest[..<range.upperBound] + "<redacted>"
        rest = rest[range.upperBound...].drop { $0 != "," && $0 != " " && $0 != "\n" && $0 != "\t" }
    }
    return out + rest
}

/// Whether `text` has `secret=` in it: a byte scan (`String.contains` goes through the generic
/// string-processing searcher, ~30k instructions for a device's config_info: half of a read-back).
private func mayHoldSecret(_ text: String) -> Bool {
    var text = text
    return text.withUTF8 { bytes in
        let marker: StaticString = "secret="
        let count = marker.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        var index = 0
        while index <= bytes.count - count {
            if bytes[index] == UInt8(ascii: "s") {
                var offset = 1
                while offset < count, bytes[index + offset] == marker.utf8Start[offset] { offset += 1 }
                if offset == count { return true }
            }
            index += 1
        }
        return false
    }
}
