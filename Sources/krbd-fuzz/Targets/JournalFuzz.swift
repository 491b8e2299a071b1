// The attachment journal's record, `JournalRecord<MappedDevice>`, as JSONDecoder reads it and
// as `Journal.load` reads a file. A decoded record encodes, and decode → encode → decode is
// stable (the bytes too); `load` agrees with JSONDecoder, and a record saved loads back.
import Foundation
import KRBD
import RBDVolume
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

enum JournalFuzz {
    typealias Record = JournalRecord<MappedDevice>

    static let journal = Journal<MappedDevice>(directory: FilePath(scratchDirectory("journal")))

    static func run(_ input: FuzzInput) {
        let decoded = try? JSONDecoder().decode(Record.self, from: Data(input.bytes))
        if let record = decoded { roundTrip(record, from: input) }

        // The same bytes as a journal file.
        let key = "fuzz"
        let path = journal.directory.appending(key + ".json").string
        do {
            try MountInfoFuzz.store(input.bytes, at: path)
        } catch {
            require(false, "cannot write \(path): \(error)")
        }
        let supported = decoded.map { $0.schema <= Record.currentSchema } ?? false
        do {
            let loaded = try journal.load(key)
            require(
                supported && loaded == decoded,
                "\(quoted(input.text)): load gives \(String(describing: loaded))")
        } catch {
            require(
                !supported && error.code == .journal,
                "\(quoted(input.text)): load fails (\(error)) where JSONDecoder reads "
                    + String(describing: decoded)
            )
        }

        // Saved by the journal (its own encoder) and loaded back: the same record, `updated` aside.
        guard var record = decoded, supported else { return }
        record.key = "saved"
        do {
            try journal.save(record)
            let back = try journal.load(record.key)
            record.updated = back?.updated ?? record.updated
            require(back == record, "\(record) saved loads back as \(String(describing: back))")
        } catch {
            require(false, "\(record) cannot be saved and loaded: \(error)")
        }
    }

    static func roundTrip(_ record: Record, from input: FuzzInput) {
        // The journal's own settings (Journal.save).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let shown = quoted(input.text)
        do {
            let bytes = try encoder.encode(record)
            let again = try JSONDecoder().decode(Record.self, from: bytes)
            require(again == record, "\(shown) decodes to \(record), re-encoded to \(again)")
            let bytesAgain = try encoder.encode(again)
            require(bytesAgain == bytes, "\(shown): the encoding is not stable")
        } catch {
            require(false, "\(shown) decodes to \(record), which does not round-trip: \(error)")
        }
    }
}
