// What the services need from every request type: its volume for the log line, the spec's argument checks, and
// a copy that is safe to log.
import CSI
import SwiftProtobuf

/// A CSI request message as the services handle it.
///
/// `redacted()` has no default on purpose: each request type must say how its secrets are hidden, so that a
/// message that gains a `secrets` map cannot reach the log unredacted by forgetting a conformance.
package protocol CSIRequest: SwiftProtobuf.Message {
    /// The RPC's name as the spec writes it, e.g. `NodeStageVolume`; first in every error message.
    static var rpcName: String { get }
    /// The volume the request is about, for the log line; empty for requests without one.
    var logVolumeID: String { get }
    /// The spec's checks of required and well-formed fields.
    ///
    /// - Throws: `CSIError` `.invalidArgument` naming the field (`NodeStageVolume: volume_id is required`), or
    ///   another code where the spec says so (NodePublishVolume without `staging_target_path`: FAILED_PRECONDITION).
    func validate() throws(CSIError)
    /// A copy to log: every secret's value and every mount flag replaced by ``Redaction/placeholder``.
    func redacted() -> Self
}

extension CSIRequest {
    /// The request as one line of JSON, always through ``redacted()``; the only way requests reach the log.
    package var logDescription: String {
        Redaction.describe(redacted())
    }
}
