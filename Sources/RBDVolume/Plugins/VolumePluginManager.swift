import Synchronization

/// Registers volume plugins under qualified names and finds the plugin for a volume, with the
/// semantics of Kubernetes' `VolumePluginMgr.InitPlugins`: invalid names and duplicates are
/// refused, every plugin's `initialize` runs even after another failed, and all failures come
/// back together in one error.
public final class VolumePluginManager: Sendable {
    private let registry = Mutex<[any VolumePlugin]>([])

    /// Creates an empty manager.
    public init() {}

    /// Validates, initializes and registers `plugins`, in order.
    ///
    /// A plugin with an invalid name, a name already registered (earlier in this list or in an
    /// earlier call) or an `initialize` that throws is not registered; the others are.
    /// - Throws: `VolumeError` with code `.pluginInitFailed` and one `failures` entry per
    ///   refused plugin (codes `.invalidPluginName`, `.duplicatePlugin`, `.pluginInitFailed`),
    ///   in the order given, after every plugin was tried.
    public func initPlugins(_ plugins: [any VolumePlugin], host: VolumeHost) throws(VolumeError) {
        var failures: [VolumeError.PluginFailure] = []
        for plugin in plugins {
            let name = plugin.name
            let problems = QualifiedName.violations(name)
            if !problems.isEmpty {
                failures.append(
                    .init(
                        plugin: name, code: .invalidPluginName,
                        reason: "volume plugin has invalid name: \"\(name)\": \(problems.joined(separator: "; "))"))
                continue
            }
            if registry.withLock({ $0.contains { $0.name == name } }) {
                failures.append(
                    .init(
                        plugin: name, code: .duplicatePlugin,
                        reason: "volume plugin \"\(name)\" was registered more than once"))
                continue
            }
            do {
                try plugin.initialize(host: host)
            } catch {
                failures.append(
                    .init(
                        plugin: name, code: .pluginInitFailed,
                        reason: "could not initialize volume plugin \"\(name)\": \(error)"))
                continue
            }
            registry.withLock { $0.append(plugin) }
        }
        if !failures.isEmpty {
            let list = failures.map { "  - \($0)" }.joined(separator: "\n")
            throw VolumeError(
                .pluginInitFailed, "\(failures.count) volume plugin(s) failed to register:\n\(list)",
                failures: failures)
        }
    }

    /// The registered plugins' names, in registration order.
    public var pluginNames: [String] { registry.withLock { $0.map(\.name) } }

    /// The plugin registered as `name`.
    /// - Throws: `VolumeError(.noPlugin)` when none is.
    public func plugin(named name: String) throws(VolumeError) -> any VolumePlugin {
        guard let plugin = registry.withLock({ $0.first { $0.name == name } }) else {
            throw VolumeError(.noPlugin, "no volume plugin named \"\(name)\" is registered (have: \(pluginNames))")
        }
        return plugin
    }

    /// The one plugin that supports `spec`.
    /// - Throws: `VolumeError(.noPlugin)` when none matches, `.ambiguousPlugin` naming them
    ///   when several do.
    public func plugin(for spec: VolumeSpec) throws(VolumeError) -> any VolumePlugin {
        let matches = registry.withLock { $0.filter { $0.canSupport(spec) } }
        switch matches.count {
        case 1: return matches[0]
        case 0: throw VolumeError(.noPlugin, "no volume plugin matched volume \(spec)")
        default:
            throw VolumeError(
                .ambiguousPlugin,
                "multiple volume plugins matched volume \(spec): \(matches.map(\.name).joined(separator: ","))")
        }
    }
}
