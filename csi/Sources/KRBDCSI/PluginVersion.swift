// The version GetPluginInfo reports.

/// The version of krbd-csi, reported as `GetPluginInfoResponse.vendor_version`.
public enum PluginVersion {
    /// The current version. `-foundation`: Identity and the Node argument checks are real; stage, publish,
    /// stats and expand still answer UNIMPLEMENTED.
    public static let current = "0.1.0-foundation"
}
