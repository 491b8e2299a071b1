// MonitorAddress: one address (`-m`, a ceph.conf vector) and a whole `mon_host` list. An accepted
// address is an IP literal with a port, renders back to itself, and renders for the kernel as
// one token without whitespace or commas (the add request splits on both).
import Foundation
import KRBD

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

enum MonitorAddressFuzz {
    static func run(_ input: FuzzInput) {
        let text = input.text
        do {
            check(try MonitorAddress(parsing: text), from: text)
        } catch {
            requirePrintable(error, input: text)
        }
        do {
            let list = try MonitorAddress.parseList(text)
            require(
                !list.isEmpty && list.count <= MonitorAddress.maximumCount,
                "\(quoted(text)) gave \(list.count) monitors")
            require(Set(list.map(\.ip)).count == list.count, "\(quoted(text)) gave one ip twice: \(list)")
            for address in list { check(address, from: text) }
            let again = try? MonitorAddress.parseList(list.map(\.description).joined(separator: ","))
            require(
                again == list, "\(quoted(text)): the list \(list) does not parse back from its description")
        } catch {
            requirePrintable(error, input: text)
        }
        if input.bytes.first == UInt8(ascii: "{") {
            // Decoding must validate like the initializers: a decoded address goes to the kernel as well.
            if let address = try? JSONDecoder().decode(MonitorAddress.self, from: Data(input.bytes)) {
                check(address, from: text)
            }
        }
    }

    static func check(_ address: MonitorAddress, from text: String) {
        let shown = "\(quoted(text)) → \(String(reflecting: address))"
        require(
            Self.isIPLiteral(address.ip, v6: address.isIPv6),
            "\(shown): the ip is not an IPv\(address.isIPv6 ? 6 : 4) literal")
        require(address.legacyPort != nil || address.msgr2Port != nil, "\(shown): no port")
        require(address.legacyPort != 0 && address.msgr2Port != 0, "\(shown): port 0")
        let again = try? MonitorAddress(parsing: address.description)
        require(
            again == address, "\(shown): its description \(address.description) parses to \(String(describing: again))")
        for mode in [nil] + MessengerMode.allCases {
            guard let rendered = try? address.rendered(for: mode) else { continue }
            require(
                !rendered.unicodeScalars.contains { $0 == "," || $0.properties.isWhitespace || isControl($0) },
                "\(shown): rendered for the kernel as \(quoted(rendered))")
            require(
                (try? MonitorAddress(parsing: rendered))?.ip == address.ip,
                "\(shown): rendered as \(quoted(rendered)), which names another ip")
        }
    }

    /// inet_pton's answer, the reference for what an IP literal is.
    static func isIPLiteral(_ text: String, v6: Bool) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(v6 ? AF_INET6 : AF_INET, text, &buffer) == 1
    }
}
