// Decimal numbers in kernel text (mountinfo fields, sysfs directory names), parsed from bytes in
// place: no String is made for a field that is only a number.

/// The value of `digits` when they are all ASCII digits and fit in 32 bits; `nil` otherwise
/// (empty, a sign, a space, an overflow).
@inlinable
package func decimalValue<Digits: Collection>(_ digits: Digits) -> UInt32? where Digits.Element == UInt8 {
    guard !digits.isEmpty else { return nil }
    var value: UInt32 = 0
    for digit in digits {
        guard (0x30...0x39).contains(digit) else { return nil }
        let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = shifted.addingReportingOverflow(UInt32(digit - 0x30))
        if overflow1 || overflow2 { return nil }
        value = sum
    }
    return value
}
