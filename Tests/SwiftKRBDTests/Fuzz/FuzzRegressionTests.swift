// Inputs the fuzz targets (Sources/krbd-fuzz, scripts/fuzz) found breaking a property, kept as
// unit tests so that the fix stays.
import Foundation
import Testing

@testable import KRBD

@Suite struct FuzzRegressionTests {
    /// imagespec: a component that starts with a combining mark joins the `/` or `@` before it
    /// into one Character; parsing split on Characters, so the spec's own description did not parse.
    @Test(arguments: [
        ("rbd", nil, "\u{301}img", nil), ("rbd", "\u{301}ns", "img", nil), ("rbd", nil, "img", "\u{301}snap"),
        ("p\u{600}", nil, "img", nil),
    ] as [(String, String?, String, String?)])
    func specStartingWithACombiningMarkParsesBack(
        _ pool: String, _ namespace: String?, _ image: String, _ snapshot: String?
    ) throws {
        let spec = try ImageSpec(pool: pool, namespace: namespace, image: image, snapshot: snapshot)
        #expect(try ImageSpec(parsing: spec.description) == spec)
    }
}
