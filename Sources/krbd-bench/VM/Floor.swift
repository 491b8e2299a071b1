// The floor: the same kernel work as ours, issued as bare syscalls with nothing around them.
import BlockMount
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

enum Floor {
    static let devices = "/sys/bus/rbd/devices"

    /// add_key("ceph", <the request's key= name>, key, thread keyring), one write of `request`
    /// to add_single_major, keyctl_unlink: the same key= transport as RBDBus.map.
    static func add(_ request: [UInt8], _ cluster: Cluster) throws {
        guard let name = keyName(request) else {
            try write("/sys/bus/rbd/add_single_major", request)  // secret= in the request: no key to add
            return
        }
        let key = cluster.keyBytes.withUnsafeBytes { system_add_key("ceph", name, $0, system_keySpecThreadKeyring) }
        if key < 0 { throw BenchError("add_key \(name): \(Errno.current)") }
        defer { _ = system_keyctl_unlink(key, system_keySpecThreadKeyring) }
        try write("/sys/bus/rbd/add_single_major", request)
    }

    /// The `key=` value of the request's options (its second field): ours names the keyring entry
    /// `client.<user>.<fingerprint>`, and the kernel looks the key up by exactly that name.
    static func keyName(_ request: [UInt8]) -> String? {
        let fields = request.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count > 1 else { return nil }
        for option in fields[1].split(separator: UInt8(ascii: ",")) where option.starts(with: "key=".utf8) {
            return String(decoding: option.dropFirst(4), as: UTF8.self)
        }
        return nil
    }

    /// One write of `<id>` to remove_single_major.
    static func remove(_ id: Int) throws {
        try write("/sys/bus/rbd/remove_single_major", Array(String(id).utf8))
    }

    static func write(_ path: String, _ bytes: [UInt8]) throws {
        let fd = system_openat(AT_FDCWD, path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw BenchError("open \(path): \(Errno.current)") }
        defer { _ = system_close(fd) }
        if bytes.withUnsafeBytes({ system_write(fd, $0) }) != bytes.count {
            throw BenchError("write \(path): \(Errno.current)")
        }
    }

    /// The ids in /sys/bus/rbd/devices (getdents64, as ours lists).
    static func deviceIDs() throws -> Set<Int> {
        var ids = Set<Int>()
        try Files.forEachName(FilePath(devices)) { name in
            if let id = decimalValue(name) { ids.insert(Int(id)) }
        }
        return ids
    }

    /// The one id in `after` that is not in `before`.
    static func newID(_ before: Set<Int>, _ after: Set<Int>) throws -> Int {
        let fresh = after.subtracting(before)
        guard fresh.count == 1, let id = fresh.first else {
            throw BenchError("expected one new rbd device, found \(fresh.sorted())")
        }
        return id
    }

    static func mount(_ source: String?, _ target: String, _ type: String?, _ flags: UInt) throws {
        if system_mount(source, target, type, flags, nil) != 0 { throw BenchError("mount \(target): \(Errno.current)") }
    }

    static func unmount(_ target: String) throws {
        if system_umount2(target, 0) != 0 { throw BenchError("umount \(target): \(Errno.current)") }
    }

    static func makeDirectory(_ path: String) throws {
        if system_mkdirat(AT_FDCWD, path, 0o750) != 0 { throw BenchError("mkdir \(path): \(Errno.current)") }
    }

    static func removeDirectory(_ path: String) throws {
        if system_unlinkat(AT_FDCWD, path, AT_REMOVEDIR) != 0 { throw BenchError("rmdir \(path): \(Errno.current)") }
    }

    /// The filesystem on `device` (BlockProbe: libblkid), `nil` when blank.
    static func probe(_ device: String) throws -> String? {
        let probe = try BlockProbe.probe(.init(device))
        switch probe.result {
        case .filesystem(let type, _, _): return type
        case .blank: return nil
        default: throw BenchError("\(device) holds \(probe.result)")
        }
    }
}
