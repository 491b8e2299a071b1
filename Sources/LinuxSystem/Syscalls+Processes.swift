// Processes: spawn, wait, signal, and the pipe and poll that carry a child's output. Same
// contract as Syscalls.swift.

import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// posix_spawn(3), with the file actions already built by the caller.
package func system_posix_spawn(
    _ pid: inout pid_t, _ path: String, _ actions: UnsafePointer<posix_spawn_file_actions_t>?,
    _ argv: [UnsafeMutablePointer<CChar>?], _ envp: [UnsafeMutablePointer<CChar>?]
) -> CInt {
    if let r = mocked(#function, path: path, argv.dropFirst().compactMap { $0.map { String(cString: $0) } }) {
        // A mocked spawn "fails" by returning the error number, as posix_spawn does.
        return r == -1 ? errno : CInt(r)
    }
    return posix_spawn(&pid, path, actions, nil, argv, envp)
}

/// waitpid(2). A mock's success value is the pid it reports; `status` is left as it was.
package func system_waitpid(_ pid: pid_t, _ status: inout CInt, _ options: CInt) -> pid_t {
    if let r = mocked(#function, ["\(pid)", "options=\(options)"]) { return pid_t(truncatingIfNeeded: r) }
    return waitpid(pid, &status, options)
}

/// kill(2).
package func system_kill(_ pid: pid_t, _ signal: CInt) -> CInt {
    if let r = mocked(#function, ["\(pid)", "signal=\(signal)"]) { return CInt(r) }
    return kill(pid, signal)
}

/// pipe2(2). A mock's success makes no pipe: `fds` is left as it was.
package func system_pipe2(_ fds: UnsafeMutablePointer<CInt>, _ flags: CInt) -> CInt {
    if let r = mocked(#function, ["flags=\(flags)"]) { return CInt(r) }
    return csupport_pipe2(fds, flags)
}

/// poll(2). A mock's success value is the number of ready fds; `revents` is left as it was.
package func system_poll(_ fds: UnsafeMutablePointer<pollfd>, _ count: Int, _ timeout: CInt) -> CInt {
    if let r = mocked(#function, fd: count == 1 ? fds.pointee.fd : nil, ["count=\(count)", "timeout=\(timeout)"]) {
        return CInt(r)
    }
    return poll(fds, nfds_t(count), timeout)
}
