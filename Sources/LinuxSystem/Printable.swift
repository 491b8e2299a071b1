// Caller input quoted in messages: control characters escaped, so that a name with a newline
// or an escape sequence cannot forge lines in a log or a terminal.

/// `text` with control characters (C0, DEL, C1) written as `\u{…}`, for messages.
package func printable(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) {
            out += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
