// What KRBD needs from CSupport without depending on it: device numbers and the keyring spec.
import CSupport

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// makedev(3).
package func system_makedev(_ major: UInt32, _ minor: UInt32) -> dev_t { csupport_makedev(major, minor) }

/// major(3).
package func system_major(_ device: dev_t) -> UInt32 { csupport_major(device) }

/// minor(3).
package func system_minor(_ device: dev_t) -> UInt32 { csupport_minor(device) }

/// KEY_SPEC_PROCESS_KEYRING (-2): the process keyring. Linux keeps it in each thread's
/// credentials: one that a thread creates is not seen by the threads already running.
package let system_keySpecProcessKeyring: Int32 = CSUPPORT_KEY_SPEC_PROCESS_KEYRING

/// KEY_SPEC_THREAD_KEYRING (-1): the calling thread's own keyring, searched first by the
/// kernel's request_key (libceph's `key=` lookup during the add write on the same thread).
package let system_keySpecThreadKeyring: Int32 = CSUPPORT_KEY_SPEC_THREAD_KEYRING
