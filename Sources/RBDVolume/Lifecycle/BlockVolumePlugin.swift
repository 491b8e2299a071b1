import BlockMount
import Logging
import LinuxSystem
import Synchronization
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// What `attach` did.
public struct AttachResult: Sendable, Codable, Equatable {
    /// The volume's global directory name.
    public var key: String
    /// Where the volume is mounted once per node.
    public var globalPath: FilePath
    /// The block device.
    public var devicePath: FilePath
    /// `false` when the volume was attached and mounted already (nothing was done).
    public var changed: Bool
    /// Whether a filesystem was created by this call.
    public var formatted: Bool
    /// The filesystem found on (or made on) the device.
    public var fsType: String?
    /// Set when the device holds another filesystem than the one asked for (mounted as it is).
    public var fsTypeMismatch: String?
    /// How long each phase took.
    public var timings: PhaseTimings
}

/// What `tearDown` did.
public struct TearDownResult: Sendable, Codable, Equatable {
    /// The workload's path.
    public var path: FilePath
    /// `false` when there was nothing to undo (the path did not exist): success either way.
    public var changed: Bool
    /// How long each phase took.
    public var timings: PhaseTimings
}

/// What `detach` did.
public struct DetachResult: Sendable, Codable, Equatable {
    /// `false` when the volume was not attached (no journal record, no device, nothing at the
    /// path): success either way.
    public var changed: Bool
    /// How long each phase took.
    public var timings: PhaseTimings
}

/// What `setUp` did.
public struct SetUpResult: Sendable, Codable, Equatable {
    /// The workload's volume path.
    public var path: FilePath
    /// `false` when the workload path was set up already.
    public var changed: Bool
    /// Whether the bind is read-only.
    public var readOnly: Bool
    /// How long each phase took.
    public var timings: PhaseTimings
}

/// The state of one journaled volume next to what the node really has.
public struct VolumeStatus: Sendable, Codable, Equatable {
    /// The journal's record.
    public var key: String
    /// The phase the journal recorded.
    public var phase: AttachPhase
    /// The recorded device node.
    public var devicePath: String?
    /// Whether the recorded device is still attached with the recorded identity.
    public var deviceAttached: Bool
    /// Whether the global path is a mount point.
    public var globalMounted: Bool
    /// Workload paths bind-mounted from the global path.
    public var workloadMounts: [FilePath]
    /// Whether the volume is attached read-only.
    public var readOnly: Bool
    /// The filesystem asked for.
    public var fsType: String
}

/// The attach / setUp / tearDown / detach lifecycle of any block-device volume, following the
/// in-tree Kubernetes RBD plugin's node flow: one global mount per node, a bind mount per
/// workload. The device half comes from a `BlockDeviceProvider`; everything else is here.
///
/// Every operation is idempotent and safe to retry after a crash at any step: it reads the
/// node's real state (mount table, statx, the provider) and the per-volume journal, and
/// converges. Operations on one volume are serialized across processes with a `flock` per
/// volume (waited for up to `lockTimeout`); different volumes proceed in parallel.
public final class BlockVolumePlugin<Provider: BlockDeviceProvider>: VolumePlugin, Sendable {
    /// The plugin's qualified name.
    public let name: String
    /// The device half.
    public let provider: Provider
    /// How long an operation waits for another one on the same volume.
    public let lockTimeout: Duration
    private let state = Mutex<VolumeHost?>(nil)
    /// In-process turns of the async entry points.
    let turns = VolumeTurns()

    /// Creates the plugin; call `initialize(host:)` (or register it with a manager) before use.
    public init(name: String, provider: Provider, lockTimeout: Duration = .seconds(120)) {
        self.name = name
        self.provider = provider
        self.lockTimeout = lockTimeout
    }

    /// Remembers `host` and creates the plugin's directories (0750).
    public func initialize(host: VolumeHost) throws {
        state.withLock { $0 = host }
        do {
            try Files.makeDirectories(mountsDirectory, mode: 0o750)
            try Files.makeDirectories(locksDirectory, mode: 0o700)
        } catch {
            throw VolumeError(.io, "cannot create the plugin directories of \(name)", cause: error)
        }
    }

    /// Whether `spec` has this provider's source type.
    public func canSupport(_ spec: VolumeSpec) -> Bool { spec.source is Provider.Source }

    // MARK: Paths

    /// The host given to `initialize`, or a default one.
    public var host: VolumeHost { state.withLock { $0 } ?? VolumeHost() }
    var pluginDirectory: FilePath { host.pluginDirectory(name) }
    var mountsDirectory: FilePath { pluginDirectory.appending("mounts") }
    var locksDirectory: FilePath { pluginDirectory.appending("locks") }
    /// The attachment journal.
    public var journal: Journal<Provider.Identity> { Journal(directory: pluginDirectory.appending("journal")) }

    /// `<root>/plugins/<name>/mounts/<key>`: where the volume is mounted once per node.
    public func globalPath(key: String) -> FilePath { mountsDirectory.appending(key) }

    /// Where the volume of `record` is mounted once per node: the caller's path it recorded, or
    /// ``globalPath(key:)``.
    public func globalPath(of record: JournalRecord<Provider.Identity>) -> FilePath {
        record.globalPath.map { FilePath($0) } ?? globalPath(key: record.key)
    }

    /// The file in a block volume's mount path that the device node is bound onto.
    public static var blockFileName: String { "device" }

    /// Where the volume itself is, for a mount path `global`: the mount there (filesystem), or
    /// the bind of the device node on `global/device` (block).
    public static func volumePath(_ global: FilePath, _ access: VolumeAccess) -> FilePath {
        access == .block ? global.appending(blockFileName) : global
    }

    /// ``volumePath(_:_:)`` of a record's global path and access.
    public func volumePath(of record: JournalRecord<Provider.Identity>) -> FilePath {
        Self.volumePath(globalPath(of: record), record.access ?? .filesystem)
    }

    /// A caller-given path, normalized: absolute, without `..`, NUL or control characters.
    static func checkedPath(_ path: FilePath, _ what: String) throws(VolumeError) -> FilePath {
        let normalized = path.lexicallyNormalized()
        guard path.isAbsolute, !normalized.components.contains(where: { $0.kind == .parentDirectory }),
            !path.string.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }), normalized != FilePath("/")
        else {
            throw VolumeError(
                .invalidArgument,
                "\(what) \"\(printable(path.string))\" is not an absolute path below / without '..' "
                    + "or control characters")
        }
        return normalized
    }

    /// `<root>/pods/<uid>/volumes/<name with ~>/<volume>`.
    /// - Throws: `VolumeError` `.invalidArgument` when the UID or name breaks ``VolumeNames``' rules.
    public func workloadPath(podUID: String, volumeName: String) throws(VolumeError) -> FilePath {
        try VolumeNames.validatePodUID(podUID)
        try VolumeNames.validateVolumeName(volumeName)
        return host.podVolumeDirectory(podUID: podUID, pluginName: name, volumeName: volumeName)
    }

    func source(of spec: VolumeSpec) throws(VolumeError) -> Provider.Source {
        guard let source = spec.source as? Provider.Source else {
            throw VolumeError(.invalidArgument, "volume \(spec) is not a \(name) volume")
        }
        return source
    }

    /// The global directory name of `spec`.
    public func key(for spec: VolumeSpec) throws(VolumeError) -> String { provider.volumeKey(try source(of: spec)) }

    // MARK: Locking

    func withVolumeLock<R>(_ key: String, _ body: () throws(VolumeError) -> R) throws(VolumeError) -> R {
        let lock = locksDirectory.appending(key + ".lock")
        do throws(LockFailure<VolumeError>) {
            return try FileLock.withLock(lock, timeout: lockTimeout, removingFile: true, directoryMode: 0o700, body)
        } catch {
            switch error {
            case .body(let error):
                throw error
            case .lock(let cause) where cause.syscall == "flock" && cause.errno == .timedOut:
                throw VolumeError(
                    .lockTimeout,
                    "another operation on volume \(key) still holds \(lock) after \(lockTimeout); "
                        + "it may be stuck in map or mkfs — look for a krbd or agent process working on it",
                    path: lock)
            case .lock(let cause):
                throw VolumeError(.io, "cannot lock volume \(key)", cause: cause)
            }
        }
    }

    /// One `debug` line per operation with its phases; nothing is built when debug is off.
    func logPhases(_ operation: String, key: String, _ timings: PhaseTimings) {
        let logger = host.logger
        guard logger.logLevel <= .debug else { return }
        var metadata: Logger.Metadata = [
            "volume": .string(key), "total": .string(PhaseTimings.milliseconds(timings.total)),
        ]
        for phase in timings.phases { metadata[phase.name] = .string(PhaseTimings.milliseconds(phase.duration)) }
        logger.debug("\(operation) done", metadata: metadata)
    }
}
