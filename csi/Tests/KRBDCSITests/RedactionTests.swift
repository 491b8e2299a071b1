import CSI
import Testing

@testable import KRBDCSI

@Suite struct RedactionTests {
    static let key = "AQD9o0Fd6hQRChAAt7fMaSZXduT3NWEqylNpmg=="

    @Test func stageHidesSecretValuesAndMountFlags() {
        var request = Fixtures.stage
        request.volumeCapability = Fixtures.capability(flags: ["noatime", "password=hunter2"])
        let line = request.logDescription
        #expect(!line.contains(Self.key))
        #expect(!line.contains("csi-rbd-node"))
        #expect(!line.contains("hunter2"))
        #expect(!line.contains("noatime"))
        // What helps debugging stays: which secrets came, the context, the ids, the paths.
        #expect(line.contains("\"userKey\":\"<redacted>\""))
        #expect(line.contains("\"userID\":\"<redacted>\""))
        #expect(line.contains("replicapool"))
        #expect(line.contains(request.volumeID))
        #expect(line.contains("\"staging_target_path\""))
        #expect(!line.contains("\n"))
    }

    @Test func publishAndExpandHideSecrets() {
        var publish = Fixtures.publish
        publish.volumeCapability = Fixtures.capability(flags: ["password=hunter2"])
        var expand = Fixtures.expand
        expand.volumeCapability = Fixtures.capability(flags: ["password=hunter2"])
        for line in [publish.logDescription, expand.logDescription] {
            #expect(!line.contains(Self.key))
            #expect(!line.contains("hunter2"))
            #expect(line.contains("<redacted>"))
        }
    }

    @Test func redactionLeavesTheRequestItselfAlone() {
        let request = Fixtures.stage
        _ = request.logDescription
        #expect(request.secrets["userKey"] == Self.key)
        #expect(request.redacted().volumeCapability.mount.fsType == "ext4")
    }

    @Test func blockCapabilityUnchanged() {
        let capability = Fixtures.capability(mount: false)
        #expect(Redaction.capability(capability) == capability)
    }

    @Test func mapOptionsLoseSecretValuesOnly() {
        let context = [
            "mapOptions": "krbd:queue_depth=128,secret=\(Self.key);nbd:key=\(Self.key)", "pool": "rbd",
            "unmapOptions": "key=abc,force",
        ]
        let redacted = Redaction.context(context)
        #expect(redacted["mapOptions"] == "krbd:queue_depth=128,secret=<redacted>;nbd:key=<redacted>")
        #expect(redacted["unmapOptions"] == "key=<redacted>,force")
        #expect(redacted["pool"] == "rbd")
        var stage = Fixtures.stage
        stage.volumeContext["mapOptions"] = "secret=" + Self.key
        #expect(!stage.logDescription.contains(Self.key))
    }
}
