// A Duration in the units the package prints and reports: one conversion, not one per caller.

extension Duration {
    /// The duration in milliseconds.
    package var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
