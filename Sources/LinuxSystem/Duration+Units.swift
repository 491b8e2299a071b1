// A Duration in the units the package prints and reports: one conversion, not one per caller.

extension Duration {
    /// The duration in milliseconds.
    package var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }

    /// The duration in whole milliseconds, each component truncated toward zero (for the
    /// integer timeouts of poll(2) and the like); traps where the count does not fit an `Int64`.
    package var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// The duration in seconds.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
