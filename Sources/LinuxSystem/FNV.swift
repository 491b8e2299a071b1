// FNV-1a, 64 bits: a stable hash for names (Swift's Hasher is seeded per process, so it cannot
// name a file that another process must find).

/// The 64-bit FNV-1a hash of `text`'s UTF-8 bytes.
package func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}
