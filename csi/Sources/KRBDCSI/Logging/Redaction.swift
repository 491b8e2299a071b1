// Secrets never reach a log: the CSI spec says so for every `csi_secret` field (the `secrets` maps), and
// mount_flags "MAY contain sensitive information" (CIFS-style password=…), so both are replaced before printing.
import CSI
import SwiftProtobuf

/// How requests are made safe to log.
package enum Redaction {
    /// What replaces a secret's value or a mount flag.
    package static let placeholder = "<redacted>"

    /// The map with its keys kept (they name which secrets came, which helps debugging) and every value replaced.
    package static func secrets(_ map: [String: String]) -> [String: String] {
        map.mapValues { _ in placeholder }
    }

    /// The volume context with the values of `secret=` / `key=` items in its map options replaced: the plugin
    /// refuses them (credentials come from the secrets), but a StorageClass that carries one must not put it in
    /// our log either.
    package static func context(_ map: [String: String]) -> [String: String] {
        var copy = map
        for name in ["mapOptions", "unmapOptions"] {
            guard let value = map[name], value.contains("secret") || value.contains("key") else { continue }
            copy[name] = value.split(separator: ";", omittingEmptySubsequences: false).map { part in
                part.split(separator: ",", omittingEmptySubsequences: false).map { item in
                    let tag = ["krbd:", "nbd:"].first { item.hasPrefix($0) } ?? ""
                    let bare = item.dropFirst(tag.count)
                    let prefix = tag
                    for secret in ["secret=", "key="] where bare.hasPrefix(secret) {
                        return prefix + secret + placeholder
                    }
                    return String(item)
                }.joined(separator: ",")
            }.joined(separator: ";")
        }
        return copy
    }

    /// The capability with each mount flag replaced (their count kept).
    package static func capability(_ capability: Csi_V1_VolumeCapability) -> Csi_V1_VolumeCapability {
        guard case .mount(var mount)? = capability.accessType, !mount.mountFlags.isEmpty else { return capability }
        var copy = capability
        mount.mountFlags = mount.mountFlags.map { _ in placeholder }
        copy.mount = mount
        return copy
    }

    /// A message as one line of JSON (proto field names); the caller passes an already redacted message.
    package static func describe(_ message: some SwiftProtobuf.Message) -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return (try? message.jsonString(options: options)) ?? "<\(type(of: message)): not printable>"
    }
}
