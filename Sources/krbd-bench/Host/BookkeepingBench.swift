// What ours does around the kernel's work, measured natively: the library calls that map and
// detach make besides the add/remove writes and the mounts, on a fixture sysfs tree, a journal
// on this host's disk and this host's /proc. The guest measures the whole operations, but under
// emulation userspace code runs ~20-50× slower than the kernel work it surrounds; this says what
// the same bookkeeping costs on real hardware.
import BlockMount
import KRBD
import LinuxSystem
import RBDVolume
import SystemPackage

enum BookkeepingBench {
    static func run(batches: Int, scratch: FilePath) throws -> String {
        progress("bookkeeping: building a fixture sysfs tree of 16 devices")
        let fixture = try SysfsFixture(devices: 16, in: scratch)
        defer { fixture.tree.remove() }
        let work = try ScratchTree(in: scratch, label: "bookkeeping")
        defer { work.remove() }
        let lockFile = work.root.appending("krbd.lock")
        let bus = RBDBus(
            sysfs: fixture.sysfs, dev: fixture.tree.root.appending("dev"), proc: "/proc", lockFile: lockFile)
        guard let device = try bus.device(id: 7) else { throw BenchError("fixture device 7 is missing") }
        var stale = device
        stale.imageID = "another-image"
        let missing = try ImageSpec(pool: "rbd", image: "not-mapped")
        let journal = Journal<MappedDevice>(directory: work.root.appending("journal"))
        var record = JournalRecord<MappedDevice>(
            plugin: "kubernetes.io/rbd", key: "rbd-image-img7", fsType: "ext4", readOnly: false)
        record.identity = device
        record.devicePath = device.devicePath
        record.phase = .mounted
        let global = FilePath("/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts/rbd-image-img7")

        var steps = Interleaved()
        steps.add("host or volume lock (open, flock, unlock, close)") {
            try FileLock.withLock(lockFile, timeout: .seconds(1)) {}
        }
        steps.add("list devices/ and check each against the image (16 devices)") { _ = try bus.devices(for: missing) }
        steps.add("read back the new device (16 attributes)") { _ = try bus.device(id: 7) }
        steps.add("unmap's identity check before the remove") { _ = try bus.unmap(stale) }
        steps.add("journal: write a record (temp file, fsync, rename)") { try journal.save(record) }
        steps.add("journal: read a record") { _ = try journal.load(record.key) }
        steps.add("workload binds of the global path (mountinfo walk)") {
            _ = try MountTable.referenceTargets(to: global)
        }
        progress("bookkeeping: timing")
        var t = try steps.run(batches: batches, batchSeconds: 0.2)
        // Removal: records written beforehand (untimed), then removed one after the other.
        var removals: [Double] = []
        for batch in 0..<batches {
            let keys = (0..<200).map { "remove-\(batch)-\($0)" }
            for key in keys {
                var copy = record
                copy.key = key
                try journal.save(copy)
            }
            removals.append(try seconds { for key in keys { try journal.remove(key) } } / Double(keys.count))
        }
        let removeName = "journal: remove a record (unlink)"
        t[removeName] = median(removals)
        steps.variants.append((removeName, {}))
        func step(_ name: String) -> Double { t[name] ?? 0 }
        let lock = step("host or volume lock (open, flock, unlock, close)")
        let list = step("list devices/ and check each against the image (16 devices)")
        let readBack = step("read back the new device (16 attributes)")
        let save = step("journal: write a record (temp file, fsync, rename)")
        let remove = step(removeName)
        // map: host lock, the listing before and after the write, the read-back.
        let map = lock + 2 * list + readBack
        // attach adds: volume lock, three journal writes (attaching, mapped, mounted); setUp: volume lock.
        let attach = map + 2 * lock + 3 * save
        // detach: two volume locks (tearDown, detach), the bind check, the journal read, the
        // identity check (with the host lock), the journal removal.
        let detach =
            2 * lock + step("workload binds of the global path (mountinfo walk)") + step("journal: read a record")
            + step("unmap's identity check before the remove") + remove

        var table = MarkdownTable("step", "per call")
        for (name, _) in steps.variants { table.add(name, human(step(name))) }
        var totals = MarkdownTable("operation", "ours' bookkeeping, natively", "its steps")
        totals.add("map", human(map), "lock + 2 listings + read-back")
        totals.add(
            "attach + setUp (besides map, probe, mounts)", human(attach - map),
            "2 locks + 3 journal writes (fsync each)")
        totals.add(
            "tearDown + detach (besides unmounts, remove)", human(detach),
            "2 locks + bind check + journal read + identity check + journal removal")
        return """
            ### Ours' bookkeeping around the kernel, natively (host; median of \(batches) interleaved batches)

            \(table.text)

            \(totals.text)

            The same library calls as in the guest, on a fixture sysfs tree of 16 devices (a regular \
            filesystem: sysfs files cost about the same to open and read), a journal on the host's disk \
            under \(scratch) (real fsyncs) and this host's /proc/self/mountinfo. Removals are timed over \
            200 records written beforehand.
            """
    }
}
