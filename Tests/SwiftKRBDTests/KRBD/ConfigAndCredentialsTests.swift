import Foundation
import Testing

@testable import KRBD

@Suite struct ConfigAndCredentialsTests {
    @Test func base64RoundTrips() throws {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64.encode(bytes)
            #expect(text == Data(bytes).base64EncodedString())
            #expect(Base64.decode(text) == bytes)
        }
        #expect(Base64.decode("AQ") == [1])
        for bad in ["A", "A===", "AQ==x", "AQ=A", "A Q==", "AQ*=", "AR=="] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
        #expect(Base64.decode(testKey)?.count == 28)
    }

    @Test(arguments: [
        "[client.admin]\n\tkey = \(testKey)\n\tcaps mon = \"allow *\"\n",
        "[client.admin]\nkey=\(testKey)\n",
        "# comment\n[client.other]\n\tkey = AQAAAA==\n[client.admin]\n  key   =   \(testKey)  \n",
        "[ client.admin ]\r\n\tkey = \"\(testKey)\"\r\n",
        // An inline comment after the key (the keyring used to be parsed apart from ceph.conf,
        // without inline comments: this failed).
        "[client.admin]\n\tkey = \(testKey) ; rotated 2026-11\n",
        "[client.admin]\n\tkey = \(testKey)\t# note\n",
    ])
    func keyringVariants(_ text: String) throws {
        let credentials = try CephCredentials(user: "client.admin", keyring: text)
        #expect(credentials.user == "admin")
        #expect(credentials.secret == (try CephSecret(base64: testKey)))
    }

    @Test func keyringWithoutTheUserIsRefused() {
        #expect(throws: RBDError.self) {
            try CephCredentials(user: "bob", keyring: "[client.admin]\nkey = \(testKey)\n")
        }
        #expect(throws: RBDError.self) {
            try CephCredentials(user: "admin", keyring: "[client.admin]\nkey = not base64!\n")
        }
        #expect(throws: RBDError.self) { try CephCredentials(user: "ad min", secret: nil) }
        #expect(throws: RBDError.self) { try CephCredentials(user: "a,secret=x", secret: nil) }
    }

    @Test func keyringAndKeyFiles() throws {
        let dir = try TemporaryDirectory()
        let keyring = try dir.write("ceph.client.admin.keyring", "[client.admin]\n\tkey = \(testKey)\n")
        let keyFile = try dir.write("admin.key", "\(testKey)\n")
        #expect(try CephCredentials.keyringFile(keyring).secret == (try CephSecret(base64: testKey)))
        #expect(try CephCredentials.keyFile(keyFile).secret == (try CephSecret(base64: testKey)))
        #expect(throws: RBDError.self) { try CephCredentials.keyringFile(dir("missing")) }
    }

    @Test func cephConfMonHostAndKeyring() throws {
        let conf = CephConfig(
            parsing: """
                # ceph.conf
                [global]
                fsid = 6a0f6e2c-7c4f-4a55-9d55-3e1b0c1d2e3f
                mon host = [v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0] [v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0]   ; two mons
                [client.bob]
                mon_host = 10.9.9.9
                keyring = /etc/ceph/$cluster.$name.keyring
                """)
        #expect(try conf.monitors().map(\.ip) == ["10.0.0.1", "10.0.0.2"])
        #expect(try conf.monitors(user: "bob").map(\.ip) == ["10.9.9.9"])
        #expect(conf.value("mon-host") != nil)
        #expect(conf.keyringPaths(user: "bob").map(\.string) == ["/etc/ceph/ceph.client.bob.keyring"])
        #expect(
            conf.keyringPaths(user: "admin").map(\.string)
                == ["/etc/ceph/ceph.client.admin.keyring", "/etc/ceph/ceph.keyring", "/etc/ceph/keyring"])
        #expect(throws: RBDError.self) { try CephConfig(parsing: "[global]\nfsid = x\n").monitors() }
    }

    @Test func secretNeverShows() throws {
        let credentials = try adminCredentials()
        let secret = credentials.secret!
        var dumped = ""
        dump(credentials, to: &dumped)
        dump(secret, to: &dumped)
        let shown = [
            String(describing: credentials), String(reflecting: credentials), String(describing: secret),
            String(reflecting: secret), "\(credentials)", dumped,
        ]
        for text in shown {
            #expect(!text.contains(testKey))
            #expect(!text.contains(String(testKey.prefix(12))))
        }
        #expect(dumped.contains("<redacted>") || dumped.contains("CephSecret"))
    }
}

@Suite struct CephConfigRedactionTests {
    @Test func inlineKeysNeverPrint() {
        let config = CephConfig(parsing: "[global]\nmon_host = 127.0.0.1\n[client.admin]\nkey = \(testKey)\n")
        var dumped = ""
        dump(config, to: &dumped)
        for text in [String(describing: config), String(reflecting: config), dumped] {
            #expect(!text.contains(testKey) && text.contains("<redacted>"), "\(text)")
        }
    }
}
