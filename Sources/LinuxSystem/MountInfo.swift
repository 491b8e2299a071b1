// A byte-level walk over /proc/<pid>/mountinfo for the questions asked on every operation
// ("which mounts show this device?", "what is bound from this mount?"): no per-line
// allocation, fields compared in their escaped form, only the answers unescaped.
// BlockMount's `MountTable` is built from the same walk (whole lines, ``MountInfoLine/tail``);
// libmount's parser is kept only as the oracle of the parity tests and the fuzz target.

/// One mountinfo line, as views into the text it was read from (escaped as the kernel wrote it:
/// space `\040`, tab `\011`, newline `\012`, backslash `\134`).
package struct MountInfoLine {
    /// Field 1: the mount id, as written.
    package var id: ArraySlice<UInt8> = []
    /// Field 2: the parent's mount id, as written.
    package var parentID: ArraySlice<UInt8> = []
    /// Field 3: the device of the mounted filesystem.
    package var device: DeviceNumber
    /// Field 4, escaped: the directory of the filesystem mounted here.
    package var root: ArraySlice<UInt8>
    /// Field 5, escaped: the mount point.
    package var target: ArraySlice<UInt8>
    /// The rest of the line after field 5 (options, optional fields, `-`, type, source, …).
    package var rest: ArraySlice<UInt8> = []

    /// The filesystem type (unescaped); found only when asked (the walk itself stops at field 5).
    package var fsType: String? { tail.map { MountInfo.unescape($0.fsType) } }

    /// The fields after the mount point, escaped: field 6 (the mount's options), the optional
    /// fields up to the `-` separator, then the filesystem type, the source and the
    /// superblock's options; `nil` when the line has no separator or not all three after it
    /// (the kernel always writes them; libmount skips such a line too).
    package var tail: MountInfoTail? {
        var fields: [ArraySlice<UInt8>] = []
        var start = rest.startIndex
        while start <= rest.endIndex {
            let end = rest[start...].firstIndex(of: UInt8(ascii: " ")) ?? rest.endIndex
            fields.append(rest[start..<end])
            start = end + 1
        }
        guard fields.count >= 3, let separator = fields.dropFirst().firstIndex(where: { $0.elementsEqual([0x2D]) }),
            separator + 3 < fields.count
        else { return nil }
        let optional = fields[1..<separator]
        return MountInfoTail(
            mountOptions: fields[0],
            optionalFields: optional.isEmpty ? [] : rest[optional.first!.startIndex..<optional.last!.endIndex],
            fsType: fields[separator + 1],
            source: fields[separator + 2], superOptions: fields[separator + 3])
    }
}

/// The fields of a mountinfo line after its mount point (see ``MountInfoLine/tail``), escaped.
package struct MountInfoTail {
    /// Field 6: the mount's (VFS) options.
    package var mountOptions: ArraySlice<UInt8>
    /// The optional fields (`shared:1 master:2`), space-separated as written; empty when none.
    package var optionalFields: ArraySlice<UInt8>
    /// The filesystem type.
    package var fsType: ArraySlice<UInt8>
    /// The mount source.
    package var source: ArraySlice<UInt8>
    /// The superblock's options.
    package var superOptions: ArraySlice<UInt8>
}

/// Helpers for mountinfo text.
package enum MountInfo {
    /// Calls `body` for every well-formed line of `text`, in order (later lines are mounted on
    /// top of earlier ones at the same target).
    package static func forEachLine(_ text: [UInt8], _ body: (MountInfoLine) -> Void) {
        var start = text.startIndex
        while start < text.endIndex {
            let end = text[start...].firstIndex(of: UInt8(ascii: "\n")) ?? text.endIndex
            if let line = parse(text[start..<end]) { body(line) }
            start = end + 1
        }
    }

    /// Fields 3–5 of one line; `nil` when the line is malformed. Walks the spaces in place
    /// (no array of field ranges per line).
    static func parse(_ line: ArraySlice<UInt8>) -> MountInfoLine? {
        var field = 0
        var start = line.startIndex
        var id: ArraySlice<UInt8> = []
        var parent: ArraySlice<UInt8> = []
        var device: ArraySlice<UInt8> = []
        var root: ArraySlice<UInt8> = []
        while start < line.endIndex {
            let end = line[start...].firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
            switch field {
            case 0: id = line[start..<end]
            case 1: parent = line[start..<end]
            case 2: device = line[start..<end]
            case 3: root = line[start..<end]
            case 4:
                guard let device = DeviceNumber(parsing: device) else { return nil }
                return MountInfoLine(
                    id: id, parentID: parent, device: device, root: root, target: line[start..<end],
                    rest: end < line.endIndex ? line[(end + 1)...] : [])
            default: break
            }
            field += 1
            start = end + 1
        }
        return nil
    }

    /// `path` escaped as mountinfo shows it (to compare with a line's fields byte for byte).
    package static func escape(_ path: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(0x30 + (byte >> 6))
                out.append(0x30 + ((byte >> 3) & 7))
                out.append(0x30 + (byte & 7))
            default:
                out.append(byte)
            }
        }
        return out
    }

    /// A field with its `\ooo` escapes undone.
    package static func unescape(_ field: ArraySlice<UInt8>) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var index = field.startIndex
        while index < field.endIndex {
            if field[index] == UInt8(ascii: "\\"), index + 4 <= field.endIndex,
                (0x30...0x33).contains(field[index + 1]),
                field[(index + 2)..<(index + 4)].allSatisfy({ (0x30...0x37).contains($0) })
            {
                let digits = field[(index + 1)..<(index + 4)].map { $0 - 0x30 }
                bytes.append(digits[0] << 6 | digits[1] << 3 | digits[2])
                index += 4
            } else {
                bytes.append(field[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether escaped path `path` is `prefix` or below it (component-wise).
    package static func isPath(_ path: ArraySlice<UInt8>, under prefix: ArraySlice<UInt8>) -> Bool {
        guard path.starts(with: prefix) else { return false }
        if path.count == prefix.count || prefix.last == UInt8(ascii: "/") { return true }
        return path[path.startIndex + prefix.count] == UInt8(ascii: "/")
    }
}
