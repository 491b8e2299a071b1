// mountinfo: the fast byte walk (LinuxSystem.MountInfo) and libmount (BlockMount.MountTable).
// On any bytes the walk stays inside its line and libmount does not fail the Swift side; on
// lines written as the kernel writes them (paths escaped, normalized) both read the same
// devices, roots and targets back, and both ways of finding a mount's bind mounts agree.
import BlockMount
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

enum MountInfoFuzz {
    /// `<proc>` for `MountTable.referenceTargets(to:proc:)`, which reads `<proc>/self/mountinfo`.
    static let proc: String = {
        let proc = scratchDirectory("proc")
        mkdir(proc + "/self", 0o700)
        return proc
    }()

    static func run(_ input: FuzzInput) {
        raw(input.bytes)
        kernelShaped(input)
    }

    static func raw(_ bytes: [UInt8]) {
        MountInfo.forEachLine(bytes) { line in
            for field in [line.root, line.target] {
                require(
                    field.startIndex >= bytes.startIndex && field.endIndex <= bytes.endIndex
                        && !field.contains(UInt8(ascii: " ")) && !field.contains(UInt8(ascii: "\n")),
                    "\(bytes): a field spans a space or a line: \(Array(field))")
            }
            _ = MountInfo.unescape(line.target)
            _ = MountInfo.isPath(line.target, under: line.root)
            _ = MountInfo.isPath(line.root, under: line.target)
        }
        _ = try? MountTable(parsing: String(decoding: bytes, as: UTF8.self))
        _ = try? MountTable.libmount(parsing: String(decoding: bytes, as: UTF8.self))
    }

    /// One mount per 0x00-separated piece: its first byte picks the device (of a few, so that
    /// mounts share one), the rest is `root \t target` as paths.
    static func kernelShaped(_ input: FuzzInput) {
        let pieces = input.bytes.split(separator: 0, omittingEmptySubsequences: true).prefix(8)
        guard !pieces.isEmpty else { return }
        var mounts: [(device: DeviceNumber, root: String, target: String)] = []
        var text = ""
        for (index, piece) in pieces.enumerated() {
            let selector = piece[piece.startIndex]
            let paths = piece.dropFirst().split(
                separator: UInt8(ascii: "\t"), maxSplits: 1, omittingEmptySubsequences: false)
            let root = path(paths.first ?? [])
            let target = path(paths.count > 1 ? paths[1] : [])
            let device = DeviceNumber(major: UInt32(7 + selector & 1), minor: UInt32(selector >> 1 & 3))
            let mount = (device: device, root: root, target: target)
            mounts.append(mount)
            let escaped = [root, target].map { String(decoding: MountInfo.escape($0), as: UTF8.self) }
            text +=
                "\(index + 30) 1 \(mount.device) \(escaped[0]) \(escaped[1]) rw,relatime shared:\(index) "
                + "- ext4 /dev/loop\(index) rw\n"
        }
        let bytes = Array(text.utf8)
        var walked: [(DeviceNumber, String, String)] = []
        MountInfo.forEachLine(bytes) {
            walked.append(($0.device, MountInfo.unescape($0.root), MountInfo.unescape($0.target)))
        }
        require(
            walked.count == mounts.count && zip(walked, mounts).allSatisfy { $0 == $1 },
            "the walk reads \(walked) from \(quoted(text))")

        let table: MountTable
        do {
            table = try MountTable.libmount(parsing: text)
        } catch {
            require(false, "libmount refuses \(quoted(text)): \(error)")
            return
        }
        // The walk's table (what production reads) is libmount's, field for field.
        let ours = (try? MountTable(parsing: text))?.entries ?? []
        require(
            ours == table.entries,
            "the walk's table \(ours) differs from libmount's \(table.entries) for \(quoted(text))")
        let parsed = table.entries.map { ($0.device, $0.root, $0.target) }
        let expected = mounts.map { ($0.device, FilePath($0.root), FilePath($0.target)) }
        require(
            parsed.count == expected.count && zip(parsed, expected).allSatisfy { $0 == $1 },
            "libmount reads \(parsed) from \(quoted(text))")

        // The bind mounts of the first mount, by the walk and by libmount's table.
        let global = FilePath(mounts[0].target)
        let walk: [FilePath]
        do {
            try store(bytes, at: proc + "/self/mountinfo")
            walk = try MountTable.referenceTargets(to: global, proc: FilePath(proc))
        } catch {
            require(false, "referenceTargets fails on \(quoted(text)): \(error)")
            return
        }
        let libmount = table.references(to: global).map(\.target)
        require(
            walk == libmount, "references to \(global) in \(quoted(text)): walk \(walk), libmount \(libmount)")
    }

    /// A path as the kernel prints one: absolute, no empty, `.` or `..` component, no NUL.
    /// Split on the byte `/`, not on Characters: a `/` followed by a combining mark is one
    /// Character, and a Character split left `//` in the path (a false finding of CI's run).
    static func path(_ bytes: ArraySlice<UInt8>) -> String {
        let components = bytes.split(separator: UInt8(ascii: "/"))
            .map { String(decoding: $0, as: UTF8.self) }
            .filter { $0 != "." && $0 != ".." && !$0.isEmpty && !$0.utf8.contains(UInt8(ascii: "/")) }
        return "/" + components.joined(separator: "/")
    }

    static func store(_ bytes: [UInt8], at path: String) throws(Errno) {
        let fd = try valueOrErrno(retryOnInterrupt: false) {
            system_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        }.get()
        defer { _ = system_close(fd) }
        let written = try valueOrErrno(retryOnInterrupt: false) { bytes.withUnsafeBytes { system_write(fd, $0) } }.get()
        guard written == bytes.count else { throw .ioError }  // a short write: no errno to read
    }
}
