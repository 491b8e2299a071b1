// Wrappers added with the benchmarks (issue #6). fchmodat2 is here because the benchmark of the
// ownership walk showed that glibc's fchmodat(AT_SYMLINK_NOFOLLOW) costs four syscalls per file.
// Same contract as Syscalls.swift: raw C result, `errno` left set, mock driver asked first.
import CSupport

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// fchmodat2(2) (Linux 6.6) of a raw directory-entry name relative to `dirfd`, through CSupport:
/// `AT_SYMLINK_NOFOLLOW` in one syscall. Fails with ENOSYS on older kernels.
///
/// The mock driver sees it as `fchmodat`, the call it stands in for, so that one mock drives the
/// chmod of the ownership walk on every kernel.
package func system_fchmodat2(_ dirfd: CInt, name: UnsafePointer<CChar>, _ mode: mode_t, _ flags: CInt) -> CInt {
    if let r = mockedCall("fchmodat", path: String(cString: name), [String(mode, radix: 8)]) { return CInt(r) }
    return csupport_fchmodat2(dirfd, name, UInt32(mode), flags)
}
