// The volume work of the Node service: RBDVolume's lifecycle with the CO's paths and a journal key per
// volume_id, so that NodeUnstageVolume (which gets only the volume id and the staging path) finds everything
// NodeStageVolume did.
import Foundation
import KRBD
import Logging
import RBDVolume
import SystemPackage

/// The node's volumes: one RBDVolume plugin whose journal and locks live in the state directory.
package struct NodeVolumes: Sendable {
    /// The lifecycle (journal in `<state-dir>/plugins/rbd/journal`, locks beside it).
    package let plugin: RBDPlugin
    /// How long an RPC waits for another operation on the same volume before ABORTED (the CO's own deadline
    /// cancels it sooner: kubelet gives NodeStageVolume two minutes).
    package var waitLimit: Duration

    /// The plugin on `bus`, its state under `stateDirectory`.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` when the state directory cannot be made.
    package init(stateDirectory: String, bus: RBDBus, logger: Logger, waitLimit: Duration = .seconds(300))
        throws(CSIError)
    {
        // Operations of this process wait for each other in VolumeTurns (no thread held); the flock inside is
        // for other processes (the krbd CLI on the same state directory), so it needs no long wait.
        plugin = RBDPlugin(bus: bus, logger: logger, lockTimeout: .seconds(60))
        self.waitLimit = waitLimit
        do {
            try plugin.initialize(host: VolumeHost(rootDirectory: FilePath(stateDirectory), logger: logger))
        } catch {
            throw CSIError(
                .invalidConfiguration, "cannot prepare the state directory \(stateDirectory) (--state-dir): \(error)",
                cause: error)
        }
    }

    /// The deadline of an RPC that starts now.
    package var deadline: ContinuousClock.Instant { .now + waitLimit }
}
