import Testing

@testable import RBDVolume

@Suite struct VolumeDirectoryNameTests {
    @Test func plainNamesMatchTheInTreePlugin() {
        #expect(
            VolumeDirectoryName.encode(pool: "rbd", namespace: nil, image: "pvc-1", snapshot: nil)
                == "rbd-image-pvc-1")
    }

    @Test(
        arguments: [
            ("rbd", nil, "pvc-1", nil),
            ("my-pool", nil, "a-image-b", nil),
            ("p-image-q", "ns-1", "x-ns-y-image-z", "snap-1"),
            ("%25", "-ns-", "-image-", "@"),
            ("pool", "", "img", nil),
            ("pøøl", "名前", "ïmage", "s"),
        ] as [(String, String?, String, String?)])
    func roundTrips(_ pool: String, _ ns: String?, _ image: String, _ snap: String?) throws {
        let name = VolumeDirectoryName.encode(pool: pool, namespace: ns, image: image, snapshot: snap)
        #expect(!name.contains("/"))
        let decoded = try #require(VolumeDirectoryName.decode(name))
        #expect(decoded.pool == pool)
        #expect(decoded.namespace == (ns == "" ? nil : ns))
        #expect(decoded.image == image)
        #expect(decoded.snapshot == snap)
    }

    @Test func distinctSpecsGetDistinctNames() {
        let a = VolumeDirectoryName.encode(pool: "a-image-b", namespace: nil, image: "c", snapshot: nil)
        let b = VolumeDirectoryName.encode(pool: "a", namespace: nil, image: "b-image-c", snapshot: nil)
        let c = VolumeDirectoryName.encode(pool: "a", namespace: nil, image: "b-image-c", snapshot: "s")
        #expect(Set([a, b, c]).count == 3)
    }

    @Test func overlongNamesAreHashedWithinTheLimit() {
        let long = String(repeating: "i", count: 400)
        let one = VolumeDirectoryName.encode(pool: "rbd", namespace: nil, image: long, snapshot: nil)
        let two = VolumeDirectoryName.encode(pool: "rbd", namespace: nil, image: long + "x", snapshot: nil)
        #expect(
            one.utf8.count <= VolumeDirectoryName.maximumLength && two.utf8.count <= VolumeDirectoryName.maximumLength
                && one != two)
        #expect(VolumeDirectoryName.decode(one) == nil)
    }

    @Test func foreignNamesDoNotDecode() {
        #expect(VolumeDirectoryName.decode("lost+found") == nil)
        #expect(VolumeDirectoryName.decode("rbd-image-") == nil)
        #expect(VolumeDirectoryName.decode("rbd-image-a%zz") == nil)
    }
}
