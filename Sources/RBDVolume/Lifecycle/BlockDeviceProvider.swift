import BlockMount
import LinuxSystem
import SystemPackage

/// A device number (`major:minor`), as ``AttachedDevice/device`` and ``JournalRecord/device``;
/// the same type as KRBD's and BlockMount's `DeviceNumber`.
public typealias DeviceNumber = LinuxSystem.DeviceNumber

/// A block device a provider attached (or found attached) for a volume.
public struct AttachedDevice<Identity: Codable & Sendable & Equatable>: Sendable {
    /// The device node (`/dev/rbd3`, `/dev/loop7`).
    public var path: FilePath
    /// The device number.
    public var device: DeviceNumber
    /// What the provider needs to find and detach exactly this device later, after a restart
    /// too; recorded in the journal, so it must hold no secret.
    public var identity: Identity
    /// Whether this call attached it (`false`: it was attached already).
    public var newlyAttached: Bool

    /// Creates a value.
    public init(path: FilePath, device: DeviceNumber, identity: Identity, newlyAttached: Bool) {
        self.path = path
        self.device = device
        self.identity = identity
        self.newlyAttached = newlyAttached
    }
}

/// The device half of a block volume plugin: how a volume's block device comes and goes.
///
/// `BlockVolumePlugin` does everything else (journal, locking, format, mounts, binds,
/// ownership, reconcile) the same way for every provider: the rbd provider maps through the
/// kernel's rbd bus; tests plug in a loop-device provider that shares every other line.
///
/// Every method that can fail throws the provider's one ``Failure`` type: the plugin reads what it needs of a
/// failure (``DeviceProviderFailure/mayHaveLeftDevice``, ``DeviceProviderFailure/volumeCause``)
/// from the type, never by casting.
public protocol BlockDeviceProvider: Sendable {
    /// The volume source this provider handles.
    associatedtype Source: VolumeSource
    /// The recorded identity of an attached device.
    associatedtype Identity: Codable & Sendable & Equatable
    /// What every method of the provider throws (`RBDError` for the rbd provider).
    associatedtype Failure: DeviceProviderFailure

    /// The volume's global directory name: unique per volume, one path component.
    func volumeKey(_ source: Source) -> String

    /// Checks everything about `source` that can be checked without touching the kernel
    /// (names, options, credentials): `attach` calls it before its first write, so that a bad
    /// argument never leaves a mapping behind a failure.
    func validate(_ source: Source) throws(Failure)

    /// The device already attached for `source`, if any (identity-exact), whatever its mode:
    /// what `detach` removes when the journal has no record.
    func existingDevice(_ source: Source, readOnly: Bool) throws(Failure) -> AttachedDevice<Identity>?

    /// The devices attached for the volume whose key is `key` (for `status` of a record that
    /// has no identity yet: an attach interrupted around the map).
    func attachedDevices(forKey key: String) throws(Failure) -> [AttachedDevice<Identity>]

    /// Returns the device for `source`: an existing one only when it is exactly what attaching
    /// anew would give (same mode at device level, same fencing, same client options, same
    /// credentials; `newlyAttached == false`), otherwise a new one. A conflicting existing
    /// device is refused with an error naming it and the difference, never adopted.
    func attach(_ source: Source, readOnly: Bool) throws(Failure) -> AttachedDevice<Identity>

    /// Whether the device recorded as `identity` is still attached as recorded.
    func isAttached(_ identity: Identity) throws(Failure) -> Bool

    /// Detaches the device recorded as `identity`; a device that is already gone is success.
    func detach(_ identity: Identity) throws(Failure)
}

/// The error of a ``BlockDeviceProvider`` (its ``BlockDeviceProvider/Failure``): what
/// `BlockVolumePlugin` needs to know of a failure to handle it.
public protocol DeviceProviderFailure: Error {
    /// Whether a device may remain attached after this failure of
    /// ``BlockDeviceProvider/attach(_:readOnly:)`` (the kernel accepted the request, and the
    /// device could not be found or removed again): attach then keeps its `attaching` journal
    /// record, so that status, reconcile and detach still know of it. `false` by default.
    var mayHaveLeftDevice: Bool { get }

    /// This failure as the ``VolumeError/cause`` of the plugin's error: `.rbd` for `RBDError`,
    /// `.mount` for `MountError`, `.system` for ``SystemCallError``; by default
    /// ``VolumeError/Cause/other(_:)``.
    var volumeCause: VolumeError.Cause { get }
}

extension DeviceProviderFailure {
    /// `false`: a failure leaves no device attached unless its type says otherwise.
    public var mayHaveLeftDevice: Bool { false }

    /// ``VolumeError/Cause/other(_:)`` with this failure.
    public var volumeCause: VolumeError.Cause { .other(self) }
}

// The package's other error types, for a provider that fails with one of them (a loop or NBD
// provider built on BlockMount or on the syscall layer): the same typed cause they have anywhere
// else in a `VolumeError`.

extension MountError: DeviceProviderFailure {
    /// ``VolumeError/Cause/mount(_:)`` with this error.
    public var volumeCause: VolumeError.Cause { .mount(self) }
}

extension SystemCallError: DeviceProviderFailure {
    /// ``VolumeError/Cause/system(_:)`` with this error.
    public var volumeCause: VolumeError.Cause { .system(self) }
}
