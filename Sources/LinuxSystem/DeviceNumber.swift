// A device number, `major:minor`: the one model of it for every module (mountinfo, sysfs,
// `st_rdev`, the journal, mknod(2)).
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// A device number (`major:minor`), as mountinfo and sysfs print it and `st_rdev` holds it.
///
/// KRBD, BlockMount and RBDVolume each name it `DeviceNumber`, because LinuxSystem is not a
/// product that can be imported (as with `SystemCallError`).
public struct DeviceNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The major number (the driver: 7 loop, 254-ish rbd with single_major).
    public var major: UInt32
    /// The minor number (the device of that driver).
    public var minor: UInt32

    /// A device number from its two halves.
    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    /// The number in a `dev_t`: `st_rdev` of a device node's stat, or `st_dev` of any file (the
    /// device of the filesystem it is on).
    public init(rdev: dev_t) { self.init(major: system_major(rdev), minor: system_minor(rdev)) }

    /// The number as a `dev_t` (makedev(3)): what mknod(2) takes and a device node's `st_rdev` holds.
    public var rdev: dev_t { system_makedev(major, minor) }

    /// Parses `major:minor` as the kernel prints it (mountinfo's field 3, a sysfs `dev` file
    /// without its newline): two decimal numbers and nothing else; `nil` for anything else.
    public init?(parsing text: String) { self.init(parsing: Array(text.utf8)[...]) }

    /// Parses `major:minor` from bytes (a field of mountinfo, in place); `nil` unless both halves
    /// are decimal and in range.
    package init?(parsing field: ArraySlice<UInt8>) {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")),
            let major = decimalValue(field[..<colon]), let minor = decimalValue(field[(colon + 1)...])
        else { return nil }
        self.init(major: major, minor: minor)
    }

    /// `major:minor`, as the kernel prints it.
    public var description: String { "\(major):\(minor)" }

    /// Ordered by major, then minor.
    public static func < (a: DeviceNumber, b: DeviceNumber) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}

// A device number is stored as two numbers side by side, `"major": 254, "minor": 16`, in the
// record that holds it (the journal's, `MappedDevice`'s, `krbd list --json`'s), as every build
// has written it: these keep that shape for the types that hold a ``DeviceNumber``.

extension KeyedEncodingContainer {
    /// Encodes `device` as two numbers under `major` and `minor`.
    package mutating func encode(_ device: DeviceNumber, major: Key, minor: Key) throws {
        try encode(device.major, forKey: major)
        try encode(device.minor, forKey: minor)
    }

    /// Encodes `device` as two numbers under `major` and `minor`; neither key when `nil`.
    package mutating func encodeIfPresent(_ device: DeviceNumber?, major: Key, minor: Key) throws {
        if let device { try encode(device, major: major, minor: minor) }
    }
}

extension KeyedDecodingContainer {
    /// The device number stored as two numbers under `major` and `minor` (both required).
    package func decode(_ type: DeviceNumber.Type, major: Key, minor: Key) throws -> DeviceNumber {
        DeviceNumber(major: try decode(UInt32.self, forKey: major), minor: try decode(UInt32.self, forKey: minor))
    }

    /// The device number stored as two numbers under `major` and `minor`; `nil` unless both are
    /// there (a record written before its device was known has neither).
    package func decodeIfPresent(_ type: DeviceNumber.Type, major: Key, minor: Key) throws -> DeviceNumber? {
        guard let majorNumber = try decodeIfPresent(UInt32.self, forKey: major),
            let minorNumber = try decodeIfPresent(UInt32.self, forKey: minor)
        else { return nil }
        return DeviceNumber(major: majorNumber, minor: minorNumber)
    }
}
