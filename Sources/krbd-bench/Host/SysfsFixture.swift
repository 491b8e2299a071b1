// A fixture sysfs tree with N rbd devices laid out as a 6.1 kernel does: each device's directory in
// <sysfs>/devices/rbd/<id>/ with every attribute the kernel shows (formats as in
// Tests/SwiftKRBDTests/KRBD/FakeRBDKernel.swift), and the bus's entry <sysfs>/bus/rbd/devices/<id>
// a symlink to ../../../devices/rbd/<id>.
import KRBD
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

struct SysfsFixture {
    /// The attribute files of one device, in the order the floor reads them.
    static let attributes = [
        "pool", "pool_id", "pool_ns", "name", "image_id", "current_snap", "snap_id", "size", "major", "minor",
        "features", "client_id", "client_addr", "cluster_fsid", "parent", "config_info",
    ]

    let tree: ScratchTree
    let count: Int
    var sysfs: FilePath { tree.root.appending("sys") }
    var devicesDirectory: String { sysfs.appending("bus/rbd/devices").string }
    var deviceRoot: String { sysfs.appending("devices/rbd").string }

    /// Builds devices 0..<count; device `id` maps `rbd/img<id>`.
    init(devices count: Int, in parent: FilePath) throws {
        self.count = count
        tree = try ScratchTree(in: parent, label: "sysfs-\(count)")
        try Files.makeDirectories(FilePath(devicesDirectory), mode: 0o755)
        try Files.makeDirectories(FilePath(deviceRoot), mode: 0o755)
        try Files.makeDirectories(tree.root.appending("dev"), mode: 0o755)
        try Files.makeDirectories(tree.root.appending("proc"), mode: 0o755)
        let devices = try openDirectory(devicesDirectory)
        defer { _ = system_close(devices) }
        let root = try openDirectory(deviceRoot)
        defer { _ = system_close(root) }
        for id in 0..<count {
            try makeDirectory(root, String(id))
            if system_symlinkat("../../../devices/rbd/\(id)", devices, String(id)) != 0 {
                throw BenchError("symlink bus entry \(id): \(Errno.current)")
            }
            let directory = system_openat(root, String(id), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory < 0 { throw BenchError("open device \(id): \(Errno.current)") }
            defer { _ = system_close(directory) }
            for (name, value) in Self.values(id) {
                try writeFile(directory, name, Array((value + "\n").utf8), mode: 0o444)
            }
        }
    }

    static func values(_ id: Int) -> [(String, String)] {
        [
            ("pool", "rbd"), ("pool_id", "2"), ("pool_ns", ""), ("name", "img\(id)"), ("image_id", "1035a1b2c3d4"),
            ("current_snap", "-"), ("snap_id", "18446744073709551614"), ("size", "1073741824"),
            ("major", "254"), ("minor", "\(id << 4)"), ("features", "0x000000000000003d"),
            ("client_id", "client4104"), ("client_addr", "127.0.0.1:0/685188785"),
            ("cluster_fsid", "6a0f6e2c-7c4f-4a55-9d55-3e1b0c1d2e3f"), ("parent", "(no parent image)"),
            ("config_info", "127.0.0.1:6789 name=admin,key=client.admin rbd img\(id)"),
            ("refresh", ""), ("uevent", ""),
        ]
    }

    /// A bus over the fixture (device nodes are never checked by lookups).
    var bus: RBDBus {
        RBDBus(
            sysfs: sysfs, dev: tree.root.appending("dev"), proc: tree.root.appending("proc"),
            lockFile: tree.root.appending("krbd.lock"))
    }

    /// How the floor names an attribute file.
    enum Naming {
        /// `open("<sysfs>/devices/rbd/<id>/<attribute>")`: the path ours opens too.
        case absolute
        /// `openat(<devices/rbd fd>, "<id>/<attribute>")`: two path components to resolve.
        case relative
    }

    /// The floor: list the bus's `devices/` once (getdents64, as ours lists), then open (in
    /// `devices/rbd/<id>/`), read once and close `attributes` of each device. One reused path
    /// buffer, nothing allocated per device. Returns the bytes read (so that nothing is
    /// optimized away).
    func floor(reading attributes: [String], naming: Naming) throws -> Int {
        let root = try openDirectory(deviceRoot)
        defer { _ = system_close(root) }
        let prefix: [UInt8] = naming == .absolute ? Array((deviceRoot + "/").utf8) : []
        let base = naming == .absolute ? AT_FDCWD : root
        let suffixes = attributes.map { Array(("/" + $0).utf8) + [0] }
        var path = [CChar](repeating: 0, count: 4096)
        path.withUnsafeMutableBufferPointer { out in
            for (i, byte) in prefix.enumerated() { out[i] = CChar(bitPattern: byte) }
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total = 0
        var failure: Errno?
        try Files.forEachName(FilePath(devicesDirectory)) { name in
            guard failure == nil, let first = name.first, first >= 0x30 && first <= 0x39 else { return }  // ids only
            for suffix in suffixes {
                path.withUnsafeMutableBufferPointer { out in
                    for (i, byte) in name.enumerated() { out[prefix.count + i] = CChar(bitPattern: byte) }
                    let end = prefix.count + name.count
                    for (i, byte) in suffix.enumerated() { out[end + i] = CChar(bitPattern: byte) }
                }
                let fd = path.withUnsafeBufferPointer {
                    system_openat(base, name: $0.baseAddress!, O_RDONLY | O_CLOEXEC)
                }
                if fd < 0 {
                    failure = Errno.current
                    return
                }
                let n = buffer.withUnsafeMutableBytes { system_read(fd, $0) }
                _ = system_close(fd)
                total += max(n, 0)
            }
        }
        if let failure { throw BenchError("floor open: \(failure)") }
        return total
    }
}
