import SystemPackage
import Testing

@testable import RBDVolume

private struct FakeSource: VolumeSource {
    var kind: String
    var description: String { "fake:\(kind)" }
}

private final class FakePlugin: VolumePlugin, @unchecked Sendable {
    let name: String
    let supports: String
    let initError: (any Error)?
    var initializedWith: FilePath?

    init(_ name: String, supports: String = "x", initError: (any Error)? = nil) {
        self.name = name
        self.supports = supports
        self.initError = initError
    }

    func initialize(host: VolumeHost) throws {
        initializedWith = host.rootDirectory
        if let initError { throw initError }
    }

    func canSupport(_ spec: VolumeSpec) -> Bool { (spec.source as? FakeSource)?.kind == supports }
}

private struct Boom: Error, CustomStringConvertible { var description: String { "no rbd module" } }

@Suite struct PluginManagerTests {
    let host = VolumeHost(rootDirectory: "/tmp/krbd-node")

    @Test(arguments: [
        "kubernetes.io/rbd", "rbd", "example.com/Loop_1.x", "a", String(repeating: "a", count: 63),
        String(repeating: "a", count: 253) + "/n",
    ])
    func validNames(_ name: String) { #expect(QualifiedName.violations(name).isEmpty) }

    @Test(arguments: [
        ("", "name part must be non-empty"),
        ("kubernetes.io/", "name part must be non-empty"),
        ("/rbd", "prefix part must be non-empty"),
        ("a/b/c", "a qualified name must consist of"),
        ("-rbd", "must start and end with an alphanumeric"),
        ("rbd_", "must start and end with an alphanumeric"),
        ("r b d", "name part must consist of"),
        ("Kubernetes.io/rbd", "prefix part a lowercase RFC 1123 subdomain"),
        ("kube..io/rbd", "prefix part a lowercase RFC 1123 subdomain"),
        (String(repeating: "a", count: 64), "no more than 63 characters"),
        (String(repeating: "a", count: 254) + "/n", "prefix part must be no more than 253 characters"),
    ])
    func invalidNames(_ name: String, _ reason: String) {
        let problems = QualifiedName.violations(name)
        #expect(problems.contains { $0.contains(reason) }, "\(name): \(problems)")
    }

    @Test func everyFailureIsCollectedAndTheRestRegister() throws {
        let manager = VolumePluginManager()
        let good = FakePlugin("kubernetes.io/rbd", supports: "rbd")
        let failing = FakePlugin("example.com/nbd", supports: "nbd", initError: Boom())
        let later = FakePlugin("example.com/loop", supports: "loop")
        let error = #expect(throws: VolumeError.self) {
            try manager.initPlugins(
                [good, FakePlugin("bad name"), failing, FakePlugin("kubernetes.io/rbd"), later], host: host)
        }
        #expect(error?.code == .pluginInitFailed)
        #expect(error?.failures.map(\.plugin) == ["bad name", "example.com/nbd", "kubernetes.io/rbd"])
        #expect(error?.failures.map(\.code) == [.invalidPluginName, .pluginInitFailed, .duplicatePlugin])
        #expect(error?.message.contains("no rbd module") == true)
        #expect(error?.message.contains("registered more than once") == true)
        #expect(manager.pluginNames == ["kubernetes.io/rbd", "example.com/loop"])
        #expect(good.initializedWith == "/tmp/krbd-node" && later.initializedWith == "/tmp/krbd-node")
        // A duplicate across calls is refused too; the first stays.
        #expect(throws: VolumeError.self) { try manager.initPlugins([FakePlugin("example.com/loop")], host: host) }
        #expect(manager.pluginNames == ["kubernetes.io/rbd", "example.com/loop"])
    }

    @Test func lookupByNameAndSpec() throws {
        let manager = VolumePluginManager()
        try manager.initPlugins(
            [
                FakePlugin("a.io/one", supports: "1"), FakePlugin("b.io/two", supports: "2"),
                FakePlugin("c.io/also-two", supports: "2"),
            ], host: host)
        #expect(try manager.plugin(named: "b.io/two").name == "b.io/two")
        #expect(throws: VolumeError.self) { try manager.plugin(named: "nope") }
        #expect(try manager.plugin(for: VolumeSpec(name: "v", source: FakeSource(kind: "1"))).name == "a.io/one")
        let none = #expect(throws: VolumeError.self) {
            try manager.plugin(for: VolumeSpec(name: "v", source: FakeSource(kind: "3")))
        }
        #expect(none?.code == .noPlugin)
        let many = #expect(throws: VolumeError.self) {
            try manager.plugin(for: VolumeSpec(name: "v", source: FakeSource(kind: "2")))
        }
        #expect(many?.code == .ambiguousPlugin)
        #expect(many?.message.contains("b.io/two,c.io/also-two") == true)
    }

    @Test func hostPaths() {
        #expect(host.pluginDirectory("kubernetes.io/rbd") == "/tmp/krbd-node/plugins/kubernetes.io/rbd")
        #expect(
            host.podVolumeDirectory(podUID: "u-1", pluginName: "kubernetes.io/rbd", volumeName: "data")
                == "/tmp/krbd-node/pods/u-1/volumes/kubernetes.io~rbd/data")
    }
}
