// ImageSpec: the text a caller gives (`rbd/ns/img@snap`), the four components given one by one,
// and the JSON decoder. Whatever is accepted must be writable to sysfs as it is (no whitespace,
// control character or separator in a component) and render back to itself.
import Foundation
import KRBD

enum ImageSpecFuzz {
    static func run(_ input: FuzzInput) {
        let text = input.text
        do {
            let spec = try ImageSpec(parsing: text)
            requireValid(spec, from: text)
            // Parsing loses nothing: the description is the text, with the default pool added.
            require(
                spec.description == text || spec.description == ImageSpec.defaultPool + "/" + text,
                "\(quoted(text)) parses to \(quoted(spec.description))")
        } catch {
            requirePrintable(error, input: text)
        }

        // pool, namespace, image, snapshot, cut at 0x01 (a byte no component may hold).
        let fields = input.fields(0x01, count: 4)
        if fields.count >= 3 {
            let namespace = fields[1].isEmpty ? nil : fields[1]
            let snapshot = fields.count > 3 ? fields[3] : nil
            do {
                let spec = try ImageSpec(pool: fields[0], namespace: namespace, image: fields[2], snapshot: snapshot)
                requireValid(spec, from: text)
                let again = try? ImageSpec(parsing: spec.description)
                require(
                    again == spec,
                    "the valid spec \(fields.map(quoted)) renders as \(quoted(spec.description)), "
                        + "which parses to \(again.map { String(reflecting: $0) } ?? "an error")")
            } catch {
                requirePrintable(error, input: text)
            }
        }

        if input.bytes.first == UInt8(ascii: "{") {
            // The Codable form validates like the initializer and round-trips.
            guard let spec = try? JSONDecoder().decode(ImageSpec.self, from: Data(input.bytes)) else { return }
            requireValid(spec, from: text)
            let again = try? JSONDecoder().decode(ImageSpec.self, from: try! JSONEncoder().encode(spec))
            require(again == spec, "\(spec) does not survive JSONEncoder and JSONDecoder")
        }
    }

    /// The rules of `ImageSpec.init`, restated: what the kernel splits on or cannot name is absent.
    static func requireValid(_ spec: ImageSpec, from text: String) {
        func check(_ value: String, _ what: String, limit: Int, forbidden: String = "/@") {
            let ok =
                !value.isEmpty && value.utf8.count <= limit
                && value.unicodeScalars.allSatisfy {
                    !isControl($0) && !$0.properties.isWhitespace && !forbidden.unicodeScalars.contains($0)
                }
            require(ok, "\(quoted(text)) was accepted with the \(what) \(quoted(value))")
        }
        check(spec.pool, "pool", limit: ImageSpec.maximumNameLength)
        if let namespace = spec.namespace {
            check(namespace, "namespace", limit: ImageSpec.maximumNameLength, forbidden: "/@,=")
        }
        check(spec.image, "image", limit: ImageSpec.maximumNameLength)
        if let snapshot = spec.snapshot {
            check(snapshot, "snapshot", limit: ImageSpec.maximumSnapshotLength)
            require(snapshot != "-", "\(quoted(text)) was accepted with the snapshot '-' (the kernel's head)")
        }
    }
}
