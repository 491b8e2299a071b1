// The async entry points: what a server (the CSI node plugin) calls from its tasks. Each waits
// for its turn on the volume without holding a thread, up to the caller's deadline, honouring
// cancellation while it waits; then the synchronous operation runs on a Dispatch thread (its
// syscalls block), where it is not interrupted: every operation is idempotent and leaves a
// journaled state, so a caller that gave up and retries converges on the same result.
import LinuxSystem
import SystemPackage

extension BlockVolumePlugin {
    /// ``attach(_:key:at:)`` from a task.
    /// - Parameters:
    ///   - spec: the volume.
    ///   - key: the journal key, as in ``attach(_:key:at:)``.
    ///   - path: where to mount the volume, as in ``attach(_:key:at:)``.
    ///   - deadline: how long to wait for another operation on the same volume in this
    ///     process (then `.lockTimeout`); the cross-process lock inside waits up to ``lockTimeout``.
    /// - Throws: as ``attach(_:key:at:)``, and `.cancelled` when the task is cancelled while it waits.
    public func attach(
        _ spec: VolumeSpec, key: String? = nil, at path: FilePath? = nil, deadline: ContinuousClock.Instant?
    ) async throws(VolumeError) -> AttachResult {
        let turn: String
        if let key { turn = key } else { turn = try self.key(for: spec) }
        return try await inTurn(turn, deadline) { () throws(VolumeError) in try self.attach(spec, key: key, at: path) }
    }

    /// ``setUp(key:at:target:readOnly:mountOptions:fsGroup:access:)`` from a task (see
    /// ``attach(_:key:at:deadline:)`` for `deadline`).
    public func setUp(
        key: String, at path: FilePath? = nil, target: FilePath, readOnly: Bool = false, mountOptions: [String] = [],
        fsGroup: UInt32? = nil, access: VolumeAccess? = nil, deadline: ContinuousClock.Instant?
    ) async throws(VolumeError) -> SetUpResult {
        try await inTurn(key, deadline) { () throws(VolumeError) in
            try self.setUp(
                key: key, at: path, target: target, readOnly: readOnly, mountOptions: mountOptions, fsGroup: fsGroup,
                access: access)
        }
    }

    /// ``tearDown(key:target:)`` from a task (see ``attach(_:key:at:deadline:)`` for `deadline`).
    @discardableResult
    public func tearDown(key: String, target: FilePath, deadline: ContinuousClock.Instant?) async throws(VolumeError)
        -> TearDownResult
    {
        try await inTurn(key, deadline) { () throws(VolumeError) in try self.tearDown(key: key, target: target) }
    }

    /// ``detach(key:at:)`` from a task (see ``attach(_:key:at:deadline:)`` for `deadline`).
    @discardableResult
    public func detach(key: String, at path: FilePath? = nil, deadline: ContinuousClock.Instant?)
        async throws(VolumeError)
        -> DetachResult
    {
        try await inTurn(key, deadline) { () throws(VolumeError) in try self.detach(key: key, at: path) }
    }

    /// The journal's record for `key`, read on a Dispatch thread.
    public func record(key: String) async throws(VolumeError) -> JournalRecord<Provider.Identity>? {
        try VolumeNames.validateKey(key)
        let journal = self.journal
        return try await runBlocking { () throws(VolumeError) in try journal.load(key) }
    }

    private func inTurn<R: Sendable>(
        _ key: String, _ deadline: ContinuousClock.Instant?, _ body: @escaping @Sendable () throws(VolumeError) -> R
    ) async throws(VolumeError) -> R {
        try await turns.run(key, deadline: deadline) { () async throws(VolumeError) -> R in
            try await runBlocking(body)
        }
    }
}
