// The version GetPluginInfo reports.

/// The version of krbd-csi, reported as `GetPluginInfoResponse.vendor_version`.
public enum PluginVersion {
    /// The current version: filesystem volumes staged, published, measured and expanded through RBDVolume; block
    /// access not yet.
    public static let current = "0.6.0"
}
