// RBDBus.device(for:) and mappedDevices() on fixture trees of 16, 256 and 4,096 devices, against
// the floor of listing devices/ and reading one attribute file per device.
import KRBD
import SystemPackage

/// Interleaved batches: each variant runs `calls` times per batch, batches alternate between the
/// variants, and the result is the median per-call time of each.
struct Interleaved {
    var variants: [(name: String, body: () throws -> Void)] = []

    mutating func add(_ name: String, _ body: @escaping () throws -> Void) { variants.append((name, body)) }

    /// Per-call median seconds by variant name. Each batch lasts about `batchSeconds`.
    func run(batches: Int, batchSeconds: Double) throws -> [String: Double] {
        var calls: [Int] = []
        for variant in variants {
            let once = try seconds(variant.body)  // also a warm-up
            calls.append(max(1, Int(batchSeconds / max(once, 1e-7))))
        }
        var samples = [[Double]](repeating: [], count: variants.count)
        for _ in 0..<batches {
            for (index, variant) in variants.enumerated() {
                let n = calls[index]
                let t = try seconds { for _ in 0..<n { try variant.body() } }
                samples[index].append(t / Double(n))
            }
        }
        var out: [String: Double] = [:]
        for (index, variant) in variants.enumerated() { out[variant.name] = median(samples[index]) }
        return out
    }
}

enum LookupBench {
    static func run(sizes: [Int], batches: Int, scratch: FilePath) throws -> String {
        var lookup = MarkdownTable(
            "devices", "`device(for:)` last", "floor: 1 attr/device", "ours/floor", "ours per device",
            "`device(for:)` missing", "missing/floor", "missing per device", "tight floor (openat)", "last/tight")
        var listing = MarkdownTable(
            "devices", "`mappedDevices()`", "per device", "ours/floor(1 attr)", "floor: 16 attrs/device",
            "ours/floor(16 attrs)")
        for size in sizes {
            progress("lookup: building a fixture sysfs tree of \(size) devices")
            let fixture = try SysfsFixture(devices: size, in: scratch)
            defer { fixture.tree.remove() }
            let bus = fixture.bus
            let last = try ImageSpec(pool: "rbd", image: "img\(size - 1)")
            let missing = try ImageSpec(pool: "rbd", image: "missing")
            // Sanity (not timed): the lookups find what they should.
            guard try bus.device(for: last)?.id == size - 1, try bus.device(for: missing) == nil,
                try bus.mappedDevices().count == size
            else { throw BenchError("the fixture of \(size) devices does not read back") }
            var set = Interleaved()
            set.add("last") { _ = try bus.device(for: last) }
            set.add("floor1") { _ = try fixture.floor(reading: ["name"], naming: .absolute) }
            set.add("tight") { _ = try fixture.floor(reading: ["name"], naming: .relative) }
            set.add("missing") { _ = try bus.device(for: missing) }
            set.add("all") { _ = try bus.mappedDevices() }
            set.add("floor16") { _ = try fixture.floor(reading: SysfsFixture.attributes, naming: .absolute) }
            progress("lookup: timing \(size) devices")
            let t = try set.run(batches: batches, batchSeconds: 0.05)
            let n = Double(size)
            lookup.add(
                "\(size)", human(t["last"]!), human(t["floor1"]!), ratio(t["last"]!, t["floor1"]!),
                human(t["last"]! / n),
                human(t["missing"]!), ratio(t["missing"]!, t["floor1"]!), human(t["missing"]! / n), human(t["tight"]!),
                ratio(t["last"]!, t["tight"]!))
            listing.add(
                "\(size)", human(t["all"]!), human(t["all"]! / n), ratio(t["all"]!, t["floor1"]!), human(t["floor16"]!),
                ratio(t["all"]!, t["floor16"]!))
        }
        return """
            ### Device lookup on fixture sysfs trees (host; median of \(batches) interleaved batches)

            \(lookup.text)

            \(listing.text)

            Floors: `getdents64` of the bus's `devices/`, then `open`/one `read`/`close` of \
            `<sysfs>/devices/rbd/<id>/name` (1 attr) or of all 16 attributes (16 attrs) of every device, by \
            the same absolute path ours opens, one reused buffer, nothing allocated per device; the tight floor \
            opens `<id>/name` relative to a `devices/rbd/` fd instead. Ours for the last device reads `name` of \
            every device, then `pool`, `pool_ns`, `current_snap` and every attribute of the match (and a stat); for \
            a missing image `name` of every device. Fixture trees live under the scratch directory (9 path components to an attribute; \
            6 in the real `/sys`).
            """
    }
}
