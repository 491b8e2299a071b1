// Which processes hold a path: the one walk over <proc>/<pid>/{cwd,root,fd/*} that busy
// unmounts and busy unmaps both report from (bounded: a busy node has many processes).
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// A process found holding something, and the path it holds (as its link resolved).
package struct PathHolder: Sendable, Hashable {
    /// The process id.
    package var pid: Int32
    /// `<proc>/<pid>/comm`, or `?`.
    package var command: String
    /// The resolved link (`cwd`, `root` or an fd), ` (deleted)` stripped.
    package var path: String
}

/// The processes under `proc` with a link that `holds` accepts, at most `limit` of them and
/// reading at most `budget` links. `holds(resolved, link)` gets the resolved path and the link's
/// name (`cwd`, `root`, or the fd number).
package func processesHolding(
    proc: FilePath, limit: Int = 32, budget: Int = 100_000, links: Set<String> = ["cwd", "root", "fd"],
    _ holds: (String, String) -> Bool
) -> [PathHolder] {
    var holders: [PathHolder] = []
    guard let pids = try? Files.list(proc) else { return holders }
    var budget = budget
    var buffer = [UInt8](repeating: 0, count: 4096)
    func resolve(_ link: String) -> String? {
        let n = buffer.withUnsafeMutableBytes { system_readlinkat(AT_FDCWD, link, $0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        return text.hasSuffix(" (deleted)") ? String(text.dropLast(10)) : text
    }
    for name in pids where holders.count < limit && budget > 0 {
        guard let pid = Int32(name) else { continue }
        let base = proc.string + "/" + name
        var candidates: [(link: String, label: String)] = ["cwd", "root"].filter(links.contains).map {
            (base + "/" + $0, $0)
        }
        if links.contains("fd"), let fds = try? Files.list(FilePath(base + "/fd")) {
            candidates += fds.map { (base + "/fd/" + $0, $0) }
        }
        for candidate in candidates where budget > 0 {
            budget -= 1
            guard let resolved = resolve(candidate.link), holds(resolved, candidate.label) else { continue }
            let command = (try? Files.readAttribute(FilePath(base + "/comm"))) ?? "?"
            holders.append(PathHolder(pid: pid, command: command, path: resolved))
            break
        }
    }
    return holders
}
