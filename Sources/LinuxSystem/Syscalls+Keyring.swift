// The kernel keyring: add_key(2) and keyctl(2) through CSupport, and the special keyring ids.
// Same contract as Syscalls.swift.

import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// add_key(2), through CSupport. The payload never appears in the mock trace.
package func system_add_key(
    _ type: String, _ description: String, _ payload: UnsafeRawBufferPointer, _ keyring: Int32
) -> Int32 {
    if let r = mocked(#function, path: description, [type, "<\(payload.count) secret bytes>", "\(keyring)"]) {
        return Int32(truncatingIfNeeded: r)
    }
    return csupport_add_key(type, description, payload.baseAddress, payload.count, keyring)
}

/// keyctl(KEYCTL_UNLINK).
package func system_keyctl_unlink(_ key: Int32, _ keyring: Int32) -> Int {
    if let r = mocked(#function, ["\(key)", "\(keyring)"]) { return r }
    return csupport_keyctl_unlink(key, keyring)
}

/// KEY_SPEC_PROCESS_KEYRING (-2): the process keyring. Linux keeps it in each thread's
/// credentials: one that a thread creates is not seen by the threads already running.
package let system_keySpecProcessKeyring: Int32 = CSUPPORT_KEY_SPEC_PROCESS_KEYRING

/// KEY_SPEC_THREAD_KEYRING (-1): the calling thread's own keyring, searched first by the
/// kernel's request_key (libceph's `key=` lookup during the add write on the same thread).
package let system_keySpecThreadKeyring: Int32 = CSUPPORT_KEY_SPEC_THREAD_KEYRING
