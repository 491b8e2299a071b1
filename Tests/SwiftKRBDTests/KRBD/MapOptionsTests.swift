import Testing

@testable import KRBD
@testable import LinuxSystem

@Suite struct MapOptionsTests {
    @Test func parsesAndRendersInAFixedOrder() throws {
        let options = try MapOptions(
            parsing:
                "ro,exclusive,lock_on_read,notrim,queue_depth=256,alloc_size=65536,lock_timeout=10,mount_timeout=5,osd_request_timeout=60,osdkeepalive=3,osd_idle_ttl=30,ms_mode=prefer-crc,noshare,read_from_replica=balance,crush_location=host:n1|rack:r1,compression_hint=compressible,rxbounce,abort_on_full,notcp_nodelay,nocrc,nocephx_sign_messages,noudev"
        )
        #expect(
            options.rendered.map(\.text) == [
                "ro", "exclusive", "lock_on_read", "notrim", "queue_depth=256", "alloc_size=65536", "lock_timeout=10",
                "mount_timeout=5", "osd_request_timeout=60", "osdkeepalive=3", "osd_idle_ttl=30", "ms_mode=prefer-crc",
                "noshare", "read_from_replica=balance", "crush_location=host:n1|rack:r1",
                "compression_hint=compressible",
                "rxbounce", "abort_on_full", "notcp_nodelay", "nocrc", "nocephx_sign_messages",
            ])
        try options.validate(for: KernelVersion(major: 6, minor: 1))
    }

    @Test func defaultsBoundMappingButNotIO() {
        let options = MapOptions()
        #expect(options.rendered.map(\.text) == ["mount_timeout=30"])
        #expect(options.osdRequestTimeout == nil && options.lockTimeout == nil)
        #expect(options.monitorStrategy == .allAtOnce)
    }

    @Test(arguments: [
        "bogus", "ro=1", "queue_depth", "queue_depth=abc", "ms_mode=fast", "read_from_replica=yes", "name=admin",
        "secret=AQ==", "key=client.admin", "_pool_ns=x", "crush_location=host", "crush_location=a:b|c",
        "compression_hint=",
        "osdtimeout=5", "queue_depth=1 2",
    ])
    func refusesUnknownOrMalformed(_ text: String) {
        #expect(throws: RBDError.self) { try MapOptions(parsing: text) }
    }

    @Test(arguments: [
        "queue_depth=0", "alloc_size=256", "alloc_size=3000", "osdkeepalive=0", "osd_idle_ttl=0", "mount_timeout=-1",
        "lock_timeout=-5", "fsid=not-a-uuid", "fsid=\u{FF11}2345678-1234-1234-1234-123456789abc",
        "mount_timeout=2147484", "lock_timeout=4294967295", "osdkeepalive=2147484",
    ])
    func refusesOutOfRange(_ text: String) throws {
        let options = try MapOptions(parsing: text)
        #expect(throws: RBDError.self) { try options.validate(for: nil) }
    }

    @Test func refusesOptionsTooNewForTheKernel() throws {
        let old = KernelVersion(major: 5, minor: 4)
        for (text, version) in [("ms_mode=crc", "5.11"), ("rxbounce", "5.17"), ("read_from_replica=balance", "5.8")] {
            let options = try MapOptions(parsing: text)
            do {
                try options.validate(for: old)
                Issue.record("\(text) accepted on 5.4")
            } catch {
                #expect(error.code == .invalidOption)
                #expect(error.message.contains(version))
            }
        }
        try MapOptions(parsing: "notrim,alloc_size=4096").validate(for: old)
    }
}
