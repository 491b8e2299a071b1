// ceph-csi's cluster config file (the `ceph-csi-config` ConfigMap's config.json), parsed and validated up front so
// that a typo stops the plugin at startup with one line instead of failing every NodeStageVolume later.
import Foundation
import KRBD

/// The clusters of ceph-csi's `config.json`:
/// `[{"clusterID": "…", "monitors": ["10.0.0.1:6789", …], "rbd": {"radosNamespace": "…"}}, …]`.
///
/// Keys this plugin does not use (`cephFS`, `nfs`, `readAffinity`, …) are ignored, as ceph-csi's RBD node ignores
/// them.
public struct ClusterConfig: Sendable, Hashable {
    /// ceph-csi's default location (the ConfigMap mounted into its pods).
    public static let defaultPath = "/etc/ceph-csi-config/config.json"

    /// The clusters, in file order; their IDs are unique.
    public var clusters: [CephCluster]

    /// A config of the given clusters.
    public init(clusters: [CephCluster]) {
        self.clusters = clusters
    }

    /// The cluster with `clusterID` `id`, if configured.
    public func cluster(id: String) -> CephCluster? {
        clusters.first { $0.id == id }
    }

    /// Reads and parses the file at `path`.
    ///
    /// - Throws: `CSIError` `.invalidConfiguration` when the file cannot be read, or for anything
    ///   ``parse(_:source:)`` refuses.
    public static func load(path: String) throws(CSIError) -> ClusterConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw CSIError(.invalidConfiguration, "\(path) \(why) (--cluster-config: ceph-csi's config.json)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CSIError(.invalidConfiguration, "\(path): not UTF-8 text")
        }
        return try parse(text, source: path)
    }

    /// Parses config.json text.
    ///
    /// Every entry needs a non-empty, unique `clusterID` and at least one monitor; monitors must be IP addresses
    /// (the kernel does not resolve names), at most 31; `rbd.radosNamespace` must be a name the kernel takes.
    ///
    /// - Parameters:
    ///   - text: the file's content.
    ///   - source: the file name, first in every error message.
    /// - Throws: `CSIError` `.invalidConfiguration` with one line naming the entry and field, e.g.
    ///   `config.json: [1] (clusterID "b").monitors[0]: 'mon-a:6789' is not an IP address…`.
    public static func parse(_ text: String, source: String = "config.json") throws(CSIError) -> ClusterConfig {
        let entries: [RawEntry]
        do {
            entries = try JSONDecoder().decode([RawEntry].self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw CSIError(.invalidConfiguration, "\(source): \(describe(error, text: text))")
        } catch {
            throw CSIError(.invalidConfiguration, "\(source): \(oneLine(String(describing: error)))")
        }
        var clusters: [CephCluster] = []
        for (index, entry) in entries.enumerated() {
            var at = "\(source): [\(index)]"
            guard let id = entry.clusterID else {
                throw CSIError(.invalidConfiguration, "\(at): \"clusterID\" is missing")
            }
            guard !id.isEmpty, !id.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true })
            else {
                throw CSIError(
                    .invalidConfiguration,
                    "\(at): \"clusterID\" must be non-empty, without spaces or control characters")
            }
            if let first = clusters.firstIndex(where: { $0.id == id }) {
                throw CSIError(.invalidConfiguration, "\(at): clusterID \"\(id)\" is already used by entry [\(first)]")
            }
            at += " (clusterID \"\(id)\")"
            guard let texts = entry.monitors, !texts.isEmpty else {
                throw CSIError(.invalidConfiguration, "\(at): \"monitors\" must list at least one monitor address")
            }
            guard texts.count <= MonitorAddress.maximumCount else {
                throw CSIError(
                    .invalidConfiguration,
                    "\(at): \(texts.count) monitors; the kernel takes at most \(MonitorAddress.maximumCount)")
            }
            var monitors: [MonitorAddress] = []
            for (slot, monitor) in texts.enumerated() {
                do {
                    monitors.append(try MonitorAddress(parsing: monitor))
                } catch {
                    throw CSIError(.invalidConfiguration, "\(at).monitors[\(slot)]: \(error.message)", cause: error)
                }
            }
            let namespace = entry.rbd?.radosNamespace ?? ""
            if !namespace.isEmpty {
                do {
                    _ = try ImageSpec(namespace: namespace, image: "probe")
                } catch {
                    throw CSIError(.invalidConfiguration, "\(at).rbd.radosNamespace: \(error.message)", cause: error)
                }
            }
            clusters.append(CephCluster(id: id, monitors: monitors, radosNamespace: namespace))
        }
        return ClusterConfig(clusters: clusters)
    }

    // MARK: Decoding

    /// One entry as written; every field optional so that a missing one gets our message, not the decoder's.
    private struct RawEntry: Decodable {
        var clusterID: String?
        var monitors: [String]?
        var rbd: RawRBD?
    }

    private struct RawRBD: Decodable {
        var radosNamespace: String?
    }

    /// A decoder error as one line: where (`[0].monitors[2]`) and what was expected.
    private static func describe(_ error: DecodingError, text: String) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }
                .joined()
            return text.isEmpty ? "top level" : (text.hasPrefix(".") ? String(text.dropFirst()) : text)
        }
        // The decoder names only `Array<Any>` or `Dictionary<String, Any>`, so the field says what was expected.
        func kind(_ type: Any.Type, _ context: DecodingError.Context) -> String {
            if context.codingPath.isEmpty { return "an array of cluster entries" }
            switch context.codingPath.last?.stringValue {
            case "monitors": return "an array of strings (monitor addresses)"
            case "rbd": return "an object"
            case "clusterID", "radosNamespace": return "a string"
            default: break
            }
            if type is String.Type { return "a string" }
            return context.codingPath.count == 1 ? "an object (a cluster entry)" : "an object"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context)): expected \(kind(type, context))"
        case .valueNotFound(let type, let context):
            return "\(path(context)): null where \(kind(type, context)) is required"
        case .keyNotFound(let key, let context):
            return "\(path(context)): \"\(key.stringValue)\" is missing"
        case .dataCorrupted:
            // JSONDecoder says only "not valid JSON"; JSONSerialization says where.
            var detail = ""
            do {
                _ = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            } catch {
                let info = (error as NSError).userInfo
                detail = (info[NSDebugDescriptionErrorKey] as? String).map { ": " + oneLine($0) } ?? ""
            }
            return "not valid JSON\(detail)"
        @unknown default:
            return oneLine(String(describing: error))
        }
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
