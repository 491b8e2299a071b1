import Testing

@testable import KRBDCSI

@Suite struct OptionsTests {
    @Test func endpoints() throws {
        #expect(try Endpoint(parsing: "unix:///csi/csi.sock").socketPath == "/csi/csi.sock")
        #expect(try Endpoint(parsing: "UNIX:///csi/csi.sock").socketPath == "/csi/csi.sock")
        #expect(try Endpoint(parsing: "unix:/csi/csi.sock").socketPath == "/csi/csi.sock")
        #expect(try Endpoint(parsing: "unix:///csi/csi.sock").description == "unix:///csi/csi.sock")
        for bad in [
            "tcp://127.0.0.1:10000", "/csi/csi.sock", "unix://csi.sock", "unix://", "unix:///",
            "unix:///" + String(repeating: "a", count: 107),
        ] {
            #expect(throws: CSIError.self, "\(bad)") { try Endpoint(parsing: bad) }
        }
    }

    @Test func driverNames() throws {
        try PluginOptions.validateDriverName("rbd.krbd.dev")
        try PluginOptions.validateDriverName("rbd.csi.ceph.com")
        for bad in ["", "-rbd.dev", "rbd.dev.", "rbd_krbd.dev", "rbd krbd", String(repeating: "a", count: 64)] {
            #expect(throws: CSIError.self, "\(bad)") { try PluginOptions.validateDriverName(bad) }
        }
    }

    @Test func nodeIDs() throws {
        try PluginOptions.validateNodeID("worker-1")
        try PluginOptions.validateNodeID(String(repeating: "n", count: 256))
        for bad in ["", String(repeating: "n", count: 257), "a\nb"] {
            #expect(throws: CSIError.self) { try PluginOptions.validateNodeID(bad) }
        }
    }

    @Test func defaultStateDirectory() {
        #expect(
            PluginOptions.defaultStateDirectory(driverName: "rbd.krbd.dev") == "/var/lib/kubelet/plugins/rbd.krbd.dev")
    }
}

@Suite struct MetricsAddressTests {
    @Test func addresses() throws {
        #expect(try MetricsServer.parse(":9095") == ("0.0.0.0", 9095))
        #expect(try MetricsServer.parse("127.0.0.1:0") == ("127.0.0.1", 0))
        #expect(try MetricsServer.parse("[::1]:8080") == ("::1", 8080))
        for bad in ["9095", "host:", "host:70000", "host:x"] {
            #expect(throws: CSIError.self) { try MetricsServer.parse(bad) }
        }
    }
}
