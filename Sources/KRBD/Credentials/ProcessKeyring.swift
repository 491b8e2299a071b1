// The process keyring entries maps use, shared by the maps in flight: maps of different images
// run at once, and two of them with the same key use the same entry (`client.<user>.<fp>`). The
// entry is unlinked when the last of them has written its request, never under another's feet.
import LinuxSystem
import Synchronization

/// Reference-counted `ceph` keys in the process keyring, one per description.
package final class ProcessKeyring: Sendable {
    /// The process's one registry.
    package static let shared = ProcessKeyring()

    /// A registry of its own (tests with a simulated kernel).
    package init() {}

    private struct Entry {
        var serial: Int32
        var users: Int
    }
    private let entries = Mutex<[String: Entry]>([:])

    /// Makes sure the key `description` is in the process keyring (`add`, which calls add_key,
    /// runs only for the first user) and counts one more user; returns its serial.
    func acquire(_ description: String, add: () throws(RBDError) -> Int32) throws(RBDError) -> Int32 {
        try entries.withLock { (entries) throws(RBDError) -> Int32 in
            if var entry = entries[description] {
                entry.users += 1
                entries[description] = entry
                return entry.serial
            }
            let serial = try add()
            entries[description] = Entry(serial: serial, users: 1)
            return serial
        }
    }

    /// One user less; the last one unlinks the key (the kernel holds its own copy for every
    /// mapping made with it).
    func release(_ description: String) {
        entries.withLock { entries in
            guard var entry = entries[description] else { return }
            entry.users -= 1
            if entry.users > 0 {
                entries[description] = entry
            } else {
                entries[description] = nil
                _ = system_keyctl_unlink(entry.serial, system_keySpecProcessKeyring)
            }
        }
    }
}
