import Testing

@testable import KRBDCSI

@Suite struct ClusterConfigTests {
    @Test func parsesCephCSIConfig() throws {
        let text = """
            [
              {"clusterID": "a", "monitors": ["10.0.0.1:6789", "10.0.0.2"], "rbd": {"radosNamespace": "tenant-1"},
               "cephFS": {"subvolumeGroup": "csi"}, "readAffinity": {"enabled": false}},
              {"clusterID": "b", "monitors": ["[v2:10.1.0.1:3300/0,v1:10.1.0.1:6789/0]", "[fd00::1]:6789"]}
            ]
            """
        let config = try ClusterConfig.parse(text)
        #expect(config.clusters.map(\.id) == ["a", "b"])
        let a = try #require(config.cluster(id: "a"))
        #expect(a.radosNamespace == "tenant-1")
        #expect(a.monitors.map(\.ip) == ["10.0.0.1", "10.0.0.2"])
        #expect(a.monitors[0].legacyPort == 6789 && a.monitors[0].msgr2Port == nil)
        let b = try #require(config.cluster(id: "b"))
        #expect(b.radosNamespace == "")
        #expect(b.monitors[0].msgr2Port == 3300 && b.monitors[0].legacyPort == 6789)
        #expect(b.monitors[1].isIPv6)
        #expect(config.cluster(id: "c") == nil)
    }

    @Test func emptyListIsAllowed() throws {
        #expect(try ClusterConfig.parse("[]").clusters.isEmpty)
    }

    @Test(arguments: [
        ("{}", "config.json: top level: expected an array of cluster entries"),
        ("[1]", "config.json: [0]: expected an object (a cluster entry)"),
        ("[{\"monitors\": [\"10.0.0.1\"]}]", "config.json: [0]: \"clusterID\" is missing"),
        ("[{\"clusterID\": \"\", \"monitors\": [\"10.0.0.1\"]}]", "config.json: [0]: \"clusterID\" must be non-empty"),
        ("[{\"clusterID\": \"a b\", \"monitors\": [\"10.0.0.1\"]}]", "without spaces"),
        ("[{\"clusterID\": 7, \"monitors\": [\"10.0.0.1\"]}]", "config.json: [0].clusterID: expected a string"),
        ("[{\"clusterID\": \"a\"}]", "config.json: [0] (clusterID \"a\"): \"monitors\" must list at least one"),
        ("[{\"clusterID\": \"a\", \"monitors\": []}]", "\"monitors\" must list at least one"),
        ("[{\"clusterID\": \"a\", \"monitors\": [5]}]", "config.json: [0].monitors[0]: expected a string"),
        (
            "[{\"clusterID\": \"a\", \"monitors\": [\"mon-a.example:6789\"]}]",
            "config.json: [0] (clusterID \"a\").monitors[0]: "
        ),
        ("[{\"clusterID\": \"a\", \"monitors\": [\"10.0.0.1:99999\"]}]", "(clusterID \"a\").monitors[0]: "),
        (
            "[{\"clusterID\": \"a\", \"monitors\": [\"10.0.0.1\"], \"rbd\": {\"radosNamespace\": \"x/y\"}}]",
            "config.json: [0] (clusterID \"a\").rbd.radosNamespace: "
        ),
        (
            "[{\"clusterID\": \"a\", \"monitors\": [\"10.0.0.1\"]},"
                + " {\"clusterID\": \"a\", \"monitors\": [\"10.0.0.2\"]}]",
            "config.json: [1]: clusterID \"a\" is already used by entry [0]"
        ),
        ("[{\"clusterID\": \"a\", \"monitors\": [\"10.0.0.1\"]", "config.json: not valid JSON: Unexpected end of file"),
        (
            "[{\"clusterID\": \"a\", \"monitors\": \"10.0.0.1\"}]",
            "config.json: [0].monitors: expected an array of strings (monitor addresses)"
        ),
        (
            "[{\"clusterID\": \"a\", \"monitors\": [\"10.0.0.1\"], \"rbd\": []}]",
            "config.json: [0].rbd: expected an object"
        ),
        ("", "config.json: not valid JSON"),
    ])
    func refuses(text: String, expected: String) {
        do {
            let config = try ClusterConfig.parse(text)
            Issue.record("parsed: \(config)")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(!error.message.contains("\n"), "one line: \(error.message)")
        }
    }

    @Test func tooManyMonitors() {
        let monitors = (1...32).map { "\"10.0.0.\($0)\"" }.joined(separator: ",")
        #expect(throws: CSIError.self) {
            try ClusterConfig.parse("[{\"clusterID\": \"a\", \"monitors\": [\(monitors)]}]")
        }
    }

    @Test func loadNamesTheFile() {
        do {
            _ = try ClusterConfig.load(path: "/nonexistent/config.json")
            Issue.record("loaded")
        } catch {
            #expect(
                error.message == "/nonexistent/config.json does not exist (--cluster-config: ceph-csi's config.json)")
        }
    }
}
