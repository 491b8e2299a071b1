// Pauses. Same contract as Syscalls.swift.

import CSupport
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// usleep(3): the pause of polling waits (mkfs queue).
/// Under a mock that answers it (`fail` or `succeed`) the pause is skipped.
package func system_usleep(_ microseconds: UInt32) {
    if mocked(#function, ["\(microseconds)"]) != nil { return }
    _ = usleep(useconds_t(microseconds))
}
