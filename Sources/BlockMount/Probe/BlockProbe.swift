import CSupport
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// What a device holds, as libblkid sees it.
public enum ProbeResult: Sendable, Hashable, CustomStringConvertible {
    /// A filesystem (libblkid `USAGE=filesystem`): its type (`ext4`, `xfs`, …), UUID and label.
    case filesystem(type: String, uuid: String?, label: String?)
    /// A partition table (`PTTYPE`: `gpt`, `dos`, …). Never formatted, never mounted.
    case partitionTable(type: String)
    /// Positive evidence of blank: no signature, and the first and last MiB read back as zeros.
    case blank
    /// A signature that is not a mountable filesystem (`crypto_LUKS`, `LVM2_member`, swap, …),
    /// or several conflicting ones (`type` is then `nil`). Never formatted.
    case unknownData(type: String?)
    /// No signature libblkid knows, but the byte at `offset` (in the first or last MiB) is not
    /// zero: data of some kind (a filesystem whose superblock is not written yet, as an
    /// interrupted mkfs leaves it; a database; a wiped header). Never formatted as blank.
    case nonZeroData(offset: UInt64)

    /// The finding in a few words, for messages.
    public var description: String {
        switch self {
        case .filesystem(let type, let uuid, let label):
            "filesystem \(type)" + (uuid.map { " UUID=\($0)" } ?? "") + (label.map { " LABEL=\($0)" } ?? "")
        case .partitionTable(let type): "partition table \(type)"
        case .blank: "blank"
        case .unknownData(let type): "unknown data" + (type.map { " (\($0))" } ?? " (conflicting signatures)")
        case .nonZeroData(let offset): "no signature, but non-zero data at byte \(offset)"
        }
    }

    /// The filesystem type, when this is a filesystem.
    public var filesystemType: String? {
        if case .filesystem(let type, _, _) = self { return type }
        return nil
    }
}

/// A probe of one device: what it holds and how large it is.
public struct BlockProbe: Sendable {
    /// The probed device or image file.
    public var device: FilePath
    /// What the device holds.
    public var result: ProbeResult
    /// The size in bytes (BLKGETSIZE64 for block devices, the file size for images).
    public var size: UInt64

    /// Probes `device` in process with libblkid (superblocks and partitions chains, safe probe).
    ///
    /// Blank is reported only on positive evidence: `blkid_do_safeprobe` found nothing AND a
    /// direct read of the first and last MiB succeeded. Any open or read error is an error,
    /// never "blank" (kubernetes#95183: a briefly unreadable disk was formatted over).
    ///
    /// - Parameter device: a block device or a regular image file.
    /// - Returns: the probe, with `result` and `size`.
    /// - Throws: `MountError` `.notBlockDevice` (neither a block device nor a regular file),
    ///   `.probeFailed` (open(2), pread(2) or libblkid failed; the errno is kept).
    /// - Touches: open(2) `O_RDONLY|O_CLOEXEC` of `device`, fstat(2), ioctl(BLKGETSIZE64),
    ///   posix_fadvise(2) `WILLNEED` of the ranges libblkid reads (block devices only),
    ///   pread(2), and libblkid's own reads on that fd.
    public static func probe(_ device: FilePath) throws(MountError) -> BlockProbe {
        let fd: CInt
        switch valueOrErrno(retryOnInterrupt: false, { system_openat(AT_FDCWD, device.string, O_RDONLY | O_CLOEXEC) }) {
        case .success(let opened): fd = opened
        case .failure(let errno):
            let cause = SyscallError("open", path: device, errno: errno)
            throw MountError(
                .probeFailed,
                "cannot open \(device) to probe it; it was not treated as blank. "
                    + "Check that the device exists and is attached", path: device, cause: cause)
        }
        defer { _ = system_close(fd) }
        let (size, isBlockDevice) = try deviceSize(fd, device)
        if isBlockDevice { prefetch(fd, size: size, Self.signatureRanges) }

        let probe = try BlkidProbe(fd: fd, size: size, device: device)
        let rc = probe.safeProbe()
        let result: ProbeResult
        switch rc {
        case 0:
            if let pt = probe.value("PTTYPE") {
                result = .partitionTable(type: pt)
            } else if let type = probe.value("TYPE") {
                let usage = probe.value("USAGE")
                if usage == nil || usage == "filesystem" {
                    result = .filesystem(type: type, uuid: probe.value("UUID"), label: probe.value("LABEL"))
                } else {
                    result = .unknownData(type: type)
                }
            } else {
                result = .unknownData(type: nil)
            }
        case 1:
            // No signature is not proof of blankness: data libblkid does not know (a filesystem
            // with a zeroed superblock, a database, a damaged LUKS header) must never be formatted.
            // A fresh image reads as zeros; anything else is unknown data.
            if isBlockDevice { prefetch(fd, size: size, Self.zeroCheckRanges) }
            result = try firstNonZeroByte(fd, size: size, device: device).map { .nonZeroData(offset: $0) } ?? .blank
        case -2:
            // Ambivalent: several signatures that contradict each other. Never blank.
            result = .unknownData(type: nil)
        default:
            let cause = SyscallError("blkid_do_safeprobe", path: device, errno: .current)
            throw MountError(
                .probeFailed,
                "libblkid could not probe \(device) (I/O error?); it was not treated as "
                    + "blank. Check dmesg for device errors and retry", path: device, cause: cause)
        }
        return BlockProbe(device: device, result: result, size: size)
    }

    /// Where libblkid's superblock and partition probes read (offsets from the start when
    /// non-negative, from the end when negative; lengths in bytes): the first 516 KiB (most
    /// superblocks, the MBR and GPT header), single pages at 1, 2 and 4 MiB (older superblocks)
    /// and the last 2 MiB (RAID/LVM/GPT backups and other end-of-device signatures).
    static let signatureRanges: [(offset: Int64, length: Int64)] = [
        (0, 516 << 10), (1 << 20, 4096), (2 << 20, 4096), (4 << 20, 4096), (-(2 << 20), 2 << 20),
    ]

    /// What the blank check reads beyond `signatureRanges`: the rest of the first MiB (the last
    /// MiB is inside the signature ranges' tail).
    static let zeroCheckRanges: [(offset: Int64, length: Int64)] = [(516 << 10, (1 << 20) - (516 << 10))]

    /// Asks the kernel to read `ranges` into the device's page cache now, all at once
    /// (posix_fadvise `WILLNEED`, asynchronous): the probe's many small reads then come from
    /// memory instead of one network round trip each. On an RBD image this cuts the probe by
    /// two thirds (see README, Numbers). Advice only: a failure is ignored, and whatever was
    /// not prefetched is read as usual.
    private static func prefetch(_ fd: CInt, size: UInt64, _ ranges: [(offset: Int64, length: Int64)]) {
        let size = Int64(clamping: size)
        for range in ranges {
            let start = max(0, range.offset < 0 ? size + range.offset : range.offset)
            let length = min(range.length, size - start)
            if length > 0 { _ = system_posix_fadvise(fd, start, length, POSIX_FADV_WILLNEED) }
        }
    }

    /// The size in bytes of a block device (BLKGETSIZE64: what the kernel sees now, a resize of
    /// the image included) or of an image file.
    /// - Throws: `MountError` `.probeFailed`, `.notBlockDevice`.
    /// - Touches: open(2), fstat(2), ioctl(BLKGETSIZE64).
    public static func size(of device: FilePath) throws(MountError) -> UInt64 {
        let fd: CInt
        switch valueOrErrno(retryOnInterrupt: false, { system_openat(AT_FDCWD, device.string, O_RDONLY | O_CLOEXEC) }) {
        case .success(let opened): fd = opened
        case .failure(let errno):
            throw MountError(
                .probeFailed, "cannot open \(device) to read its size", path: device,
                cause: SyscallError("open", path: device, errno: errno))
        }
        defer { _ = system_close(fd) }
        return try deviceSize(fd, device).0
    }

    /// The size of the open device or file, and whether it is a block device.
    private static func deviceSize(_ fd: CInt, _ device: FilePath) throws(MountError) -> (UInt64, Bool) {
        var st = stat()
        if case .failure(let errno) = valueOrErrno(retryOnInterrupt: false, { system_fstat(fd, &st) }) {
            throw MountError(
                .probeFailed, "cannot stat \(device)", path: device,
                cause: SyscallError("fstat", path: device, errno: errno))
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            return (UInt64(st.st_size), false)
        case S_IFBLK:
            var bytes: UInt64 = 0
            let sized = valueOrErrno(retryOnInterrupt: false) { system_ioctl(fd, CSUPPORT_BLKGETSIZE64, &bytes) }
            if case .failure(let errno) = sized {
                throw MountError(
                    .probeFailed, "cannot read the size of \(device)", path: device,
                    cause: SyscallError("ioctl(BLKGETSIZE64)", path: device, errno: errno))
            }
            return (bytes, true)
        default:
            throw MountError(
                .notBlockDevice, "\(device) is neither a block device nor an image file",
                path: device)
        }
    }

    /// Reads the first and the last MiB; the offset of the first byte that is not zero, or `nil`
    /// when all are; any error (or a short read) aborts.
    private static func firstNonZeroByte(_ fd: CInt, size: UInt64, device: FilePath) throws(MountError) -> UInt64? {
        let mib: UInt64 = 1 << 20
        var ranges: [(offset: UInt64, count: UInt64)] = [(0, min(mib, size))]
        if size > mib { ranges.append((size - min(mib, size - mib), min(mib, size - mib))) }
        var buffer = [UInt8](repeating: 0, count: Int(mib))
        for range in ranges {
            var done: UInt64 = 0
            while done < range.count {
                let read = valueOrErrno(retryOnInterrupt: true) {
                    buffer.withUnsafeMutableBytes { raw in
                        system_pread(
                            fd, UnsafeMutableRawBufferPointer(rebasing: raw[0..<Int(range.count - done)]),
                            Int64(range.offset + done))
                    }
                }
                guard case .success(let n) = read, n > 0 else {
                    let errno = read.errno ?? .ioError  // a read of 0 bytes inside the device: EIO
                    throw MountError(
                        .probeFailed,
                        "\(device) shows no signature but reading it at offset "
                            + "\(range.offset + done) failed; it was not treated as blank. Check dmesg",
                        path: device, cause: SyscallError("pread", path: device, errno: errno))
                }
                let nonZero = buffer.withUnsafeBytes { raw in
                    raw[0..<n].withMemoryRebound(to: UInt8.self) { bytes in bytes.firstIndex { $0 != 0 } }
                }
                if let nonZero { return range.offset + done + UInt64(nonZero) }
                done += UInt64(n)
            }
        }
        return nil
    }
}

/// A libblkid low-level probe on an fd we opened; freed in `deinit`.
final class BlkidProbe {
    private let handle: blkid_probe

    init(fd: CInt, size: UInt64, device: FilePath) throws(MountError) {
        guard let handle = blkid_new_probe() else {
            throw MountError(.probeFailed, "libblkid could not allocate a probe for \(device)", path: device)
        }
        self.handle = handle
        if blkid_probe_set_device(handle, fd, 0, blkid_loff_t(size)) != 0 {
            throw MountError(
                .probeFailed, "libblkid refused the device \(device)", path: device,
                cause: SyscallError("blkid_probe_set_device", path: device, errno: .current))
        }
        _ = blkid_probe_enable_superblocks(handle, 1)
        _ = blkid_probe_set_superblocks_flags(
            handle, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_USAGE)
        _ = blkid_probe_enable_partitions(handle, 1)
    }

    deinit { blkid_free_probe(handle) }

    /// `blkid_do_safeprobe`: 0 found, 1 nothing, -2 ambivalent, -1 error.
    func safeProbe() -> CInt { blkid_do_safeprobe(handle) }

    /// A value found by the last probe (`TYPE`, `UUID`, `LABEL`, `PTTYPE`, `USAGE`).
    func value(_ name: String) -> String? {
        var data: UnsafePointer<CChar>?
        var length = 0
        guard blkid_probe_lookup_value(handle, name, &data, &length) == 0, let data else { return nil }
        let text = String(cString: data)
        return text.isEmpty ? nil : text
    }
}
