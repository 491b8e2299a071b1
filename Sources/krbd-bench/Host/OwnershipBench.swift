// Ownership.apply(.always) on a tree of 200k files against `chown -R :gid` + `chmod -R g+rwX`,
// and `.onRootMismatch` on a tree that is already owned.
import BlockMount
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// `directories` × `files` empty files, root:root, 0755 directories and 0644 files.
struct OwnershipTree {
    let tree: ScratchTree
    let directories: Int
    let files: Int
    var root: FilePath { tree.root.appending("vol") }
    var entries: Int { 1 + directories + directories * files }

    init(directories: Int, files: Int, in parent: FilePath) throws {
        self.directories = directories
        self.files = files
        tree = try ScratchTree(in: parent, label: "ownership")
        try Files.makeDirectories(root, mode: 0o755)
        let top = try openDirectory(root.string)
        defer { _ = system_close(top) }
        for d in 0..<directories {
            try makeDirectory(top, Self.directoryName(d))
            let directory = try openDirectory(root.appending(Self.directoryName(d)).string)
            defer { _ = system_close(directory) }
            for f in 0..<files { try writeFile(directory, Self.fileName(f), []) }
        }
        try reset(gid: 0)
    }

    static func directoryName(_ d: Int) -> String { "d\(d)" }
    static func fileName(_ f: Int) -> String { "f\(f)" }

    /// Puts every entry back to group `gid`, 0755 directories (no setgid) and 0644 files, so that
    /// the next run changes group and mode of every entry. Not timed.
    func reset(gid: gid_t) throws {
        let keepOwner = uid_t.max
        func fix(_ dirfd: CInt, _ name: String, _ mode: mode_t) throws {
            if system_fchownat(dirfd, name, keepOwner, gid, AT_SYMLINK_NOFOLLOW) != 0
                || system_fchmodat(dirfd, name, mode, 0) != 0
            {
                throw BenchError("reset \(name): \(Errno.current)")
            }
        }
        try fix(AT_FDCWD, root.string, 0o755)
        let top = try openDirectory(root.string)
        defer { _ = system_close(top) }
        for d in 0..<directories {
            try fix(top, Self.directoryName(d), 0o755)
            let directory = try openDirectory(root.appending(Self.directoryName(d)).string)
            defer { _ = system_close(directory) }
            for f in 0..<files { try fix(directory, Self.fileName(f), 0o644) }
        }
    }
}

enum OwnershipBench {
    static let gid: UInt32 = 4242

    static func run(directories: Int, files: Int, runs: Int, scratch: FilePath) throws -> String {
        progress("ownership: creating \(directories) × \(files) files under \(scratch)")
        let tree = try OwnershipTree(directories: directories, files: files, in: scratch)
        defer { tree.tree.remove() }
        var ours: [Double] = []
        var cli: [Double] = []
        for run in 1...runs {
            progress("ownership: run \(run)/\(runs)")
            try tree.reset(gid: 0)
            var report: Ownership.Report?
            ours.append(try seconds { report = try Ownership.apply(root: tree.root, gid: gid, policy: .always) })
            guard let report, report.visited == tree.entries, report.changed == tree.entries else {
                throw BenchError(
                    "Ownership.apply did not change all \(tree.entries) entries: \(String(describing: report))")
            }
            try tree.reset(gid: 0)
            cli.append(
                try seconds {
                    try runTool(["chown", "-R", ":\(gid)", tree.root.string])
                    try runTool(["chmod", "-R", "g+rwX", tree.root.string])
                })
        }
        // The tree as `.always` leaves it (root matches), then the O(1) check, many times.
        _ = try Ownership.apply(root: tree.root, gid: gid, policy: .always)
        var skipped = 0
        var batches: [Double] = []
        for _ in 0..<7 {
            let n = 2000
            let t = try seconds {
                for _ in 0..<n
                where try Ownership.apply(root: tree.root, gid: gid, policy: .onRootMismatch).skipped == .rootMatches {
                    skipped += 1
                }
            }
            batches.append(t / Double(n))
        }
        guard skipped == 7 * 2000 else { throw BenchError(".onRootMismatch walked an owned tree") }
        let oursMedian = median(ours)
        let cliMedian = median(cli)
        var table = MarkdownTable(
            "tree", "ours `.always`", "`chown -R :gid` + `chmod -R g+rwX`", "ours/CLI", "ours per entry",
            "`.onRootMismatch`, owned tree")
        table.add(
            "\(directories) dirs × \(files) files (\(tree.entries) entries)", human(oursMedian), human(cliMedian),
            ratio(oursMedian, cliMedian), human(oursMedian / Double(tree.entries)), human(median(batches)))
        return """
            ### Ownership (host; median of \(runs) interleaved runs)

            \(table.text)

            Each run starts from a tree reset to gid 0, 0755 directories and 0644 files, so both sides change \
            group and mode of every entry (ours also sets setgid on directories). `.onRootMismatch`: median \
            per call of 7 × 2000 calls on the tree `.always` just gave away (one open, one fstat).
            """
    }
}
