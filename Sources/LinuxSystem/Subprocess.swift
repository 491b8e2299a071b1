// The few programs the product may run (mkfs.*, fsck, resize tools, a one-time modprobe).
// posix_spawn, never a shell; stdin is /dev/null; stdout and stderr are captured together.
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// How a program ended.
package struct ProcessResult: Sendable {
    /// The exit status, or `nil` when a signal ended it.
    package var exitCode: CInt?
    /// The signal that ended it, if one did.
    package var signal: CInt?
    /// Standard output and standard error, interleaved, at most 64 KiB.
    package var output: String
    /// Whether the deadline ran out and the program was killed.
    package var timedOut: Bool

    package var succeeded: Bool { exitCode == 0 }
}

package enum Subprocess {
    /// The search path for tools: sbin first, as mkfs and modprobe live there.
    package static let searchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The absolute path of `tool` in `searchPath`, or `nil`.
    package static func locate(_ tool: String) -> FilePath? {
        if tool.hasPrefix("/") { return Files.exists(FilePath(tool)) ? FilePath(tool) : nil }
        for directory in searchPath {
            let candidate = FilePath(directory).appending(tool)
            if system_faccessat(AT_FDCWD, candidate.string, X_OK, 0) == 0 { return candidate }
        }
        return nil
    }

    /// Runs `arguments[0]` (looked up in `searchPath`) with a minimal environment and waits at
    /// most `timeout`; past it the program is killed (SIGKILL) and `timedOut` is set.
    ///
    /// - Throws: `SyscallError` when the program cannot be found (`ENOENT`) or started.
    package static func run(_ arguments: [String], timeout: Duration = .seconds(600)) throws(SyscallError)
        -> ProcessResult
    {
        guard let tool = arguments.first, let path = locate(tool) else {
            throw SyscallError("posix_spawn", path: FilePath(arguments.first ?? ""), errno: .noSuchFileOrDirectory)
        }
        var pipeFDs: [CInt] = [-1, -1]
        _ = try valueOrErrno(retryOnInterrupt: false) { system_pipe2(&pipeFDs, O_CLOEXEC) }.get("pipe2")
        defer { if pipeFDs[0] >= 0 { _ = system_close(pipeFDs[0]) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)

        let environment = ["PATH=" + searchPath.joined(separator: ":"), "LC_ALL=C"]
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawnError = withUnsafePointer(to: &actions) { system_posix_spawn(&pid, path.string, $0, argv, envp) }
        _ = system_close(pipeFDs[1])
        pipeFDs[1] = -1
        if spawnError != 0 { throw SyscallError("posix_spawn", path: path, errno: Errno(rawValue: spawnError)) }

        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var output: [UInt8] = []
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        reading: while true {
            let left = clock.now.duration(to: deadline)
            if left <= .zero {
                timedOut = true
                _ = system_kill(pid, SIGKILL)
                break
            }
            var pfd = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
            let ms = CInt(min(left.wholeMilliseconds + 1, 60_000))
            // EINTR: round the loop, so that the deadline is looked at again before the next poll.
            switch valueOrErrno(retryOnInterrupt: false, { system_poll(&pfd, 1, ms) }) {
            case .success(0), .failure(.interrupted): continue
            case .success: break
            case .failure: break reading
            }
            let read = valueOrErrno(retryOnInterrupt: false) {
                buffer.withUnsafeMutableBytes { system_read(pipeFDs[0], $0) }
            }
            switch read {
            case .success(0): break reading
            case .success(let n): if output.count < 65_536 { output.append(contentsOf: buffer[0..<n]) }
            case .failure(.interrupted): continue
            case .failure: break reading
            }
        }
        var status: CInt = 0
        _ = valueOrErrno(retryOnInterrupt: true) { system_waitpid(pid, &status, 0) }
        let exited = status & 0x7f == 0
        return ProcessResult(
            exitCode: exited ? (status >> 8) & 0xff : nil,
            signal: exited ? nil : status & 0x7f,
            output: String(decoding: output, as: UTF8.self),
            timedOut: timedOut)
    }
}
