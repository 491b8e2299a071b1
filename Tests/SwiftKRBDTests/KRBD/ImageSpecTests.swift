import Foundation
import Testing

@testable import KRBD

@Suite struct ImageSpecTests {
    @Test func parsesLikeTheRbdCLI() throws {
        #expect(try ImageSpec(parsing: "img") == ImageSpec(pool: "rbd", image: "img"))
        #expect(try ImageSpec(parsing: "p/img") == ImageSpec(pool: "p", image: "img"))
        #expect(
            try ImageSpec(parsing: "p/ns/img@s1") == ImageSpec(pool: "p", namespace: "ns", image: "img", snapshot: "s1")
        )
        #expect(try ImageSpec(parsing: "p/img@s").snapshot == "s")
        #expect(try ImageSpec(parsing: "p/ns/img@s1").description == "p/ns/img@s1")
        #expect(try ImageSpec(pool: "p", namespace: "", image: "i").namespace == nil)
    }

    static let hostile: [String] = [
        "", "/img", "p/", "p//img", "a/b/c/d", "p/img@", "p/img@a@b", "p/i mg", "p/img\n", "p/i\tmg", "p /img",
        "p/img@s s", "p/i\u{0}mg", "p/i\u{7}mg", "p/i\u{85}mg", "p/i\u{2003}mg", "p/n,s/img", "p/n=s/img",
        "p/img@-", "p/" + String(repeating: "x", count: 256), "p/img@" + String(repeating: "s", count: 251),
        String(repeating: "p", count: 300) + "/img",
    ]

    @Test(arguments: hostile) func refusesHostileNames(_ text: String) {
        #expect(throws: RBDError.self) { try ImageSpec(parsing: text) }
        do {
            _ = try ImageSpec(parsing: text)
        } catch {
            #expect(error.code == .invalidSpec)
            #expect(!error.message.contains("\n") && !error.message.contains("\u{0}"))
        }
    }

    @Test func limitsAreInclusive() throws {
        _ = try ImageSpec(
            pool: "p", image: String(repeating: "i", count: 255), snapshot: String(repeating: "s", count: 250))
        #expect(throws: RBDError.self) {
            try ImageSpec(pool: "p", image: "i", snapshot: String(repeating: "s", count: 251))
        }
    }

    @Test func codableRoundTripValidates() throws {
        let spec = try ImageSpec(pool: "p", namespace: "ns", image: "img", snapshot: "s")
        let data = try JSONEncoder().encode(spec)
        #expect(try JSONDecoder().decode(ImageSpec.self, from: data) == spec)
        let bad = Data(#"{"pool":"p","image":"a b"}"#.utf8)
        #expect(throws: RBDError.self) { try JSONDecoder().decode(ImageSpec.self, from: bad) }
    }
}
