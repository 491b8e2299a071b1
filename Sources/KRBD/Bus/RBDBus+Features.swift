// Image features against the kernel's: a request that names the image's features (CSI's
// `imageFeatures`) is refused before the add write when the rbd driver cannot map them, instead of
// an ENXIO from the kernel after the monitors were asked.
import LinuxSystem
import SystemPackage

extension RBDFeatures {
    /// Parses feature names as `rbd create --image-feature` and ceph-csi's `imageFeatures` take
    /// them: `layering,exclusive-lock,object-map`, commas between, spaces around ignored, an
    /// empty list is no feature.
    ///
    /// - Throws: `RBDError` `.invalidOption` naming an unknown feature.
    public init(parsing text: String) throws(RBDError) {
        var features = RBDFeatures()
        for part in text.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: " \t\r\n")
            if trimmed.isEmpty { continue }
            guard let feature = Self.byName[trimmed] else {
                throw RBDError(
                    .invalidOption,
                    "unknown image feature \"\(printable(trimmed))\"; known: "
                        + Self.byName.keys.sorted().joined(separator: ", "))
            }
            features.insert(feature)
        }
        self = features
    }

    /// ``names``' table, by name.
    private static let byName = [String: RBDFeatures](uniqueKeysWithValues: nameTable.map { ($1, $0) })
}

extension RBDBus {
    /// The features this kernel's rbd driver maps (`/sys/bus/rbd/supported_features`); `nil`
    /// when that cannot be read (the module is not loaded yet, or a kernel before 4.11).
    public func kernelFeatures() -> RBDFeatures? { supportedFeatures() }

    /// Refuses `features` of `image` when the kernel says it cannot map them; passes when the
    /// kernel's features are unknown (the add write then gets the kernel's own answer).
    ///
    /// - Throws: `RBDError` `.unsupportedFeatures` naming the features the kernel lacks.
    /// - Touches: read(2) of `<sysfs>/bus/rbd/supported_features`.
    public func requireSupported(_ features: RBDFeatures, of image: ImageSpec) throws(RBDError) {
        guard let supported = supportedFeatures() else { return }
        let missing = features.subtracting(supported)
        guard missing.isEmpty else {
            throw RBDError(
                .unsupportedFeatures,
                "\(image) has the features \(features), and this kernel's rbd driver does not support \(missing) "
                    + "(it supports: \(supported)); disable them on the image (rbd feature disable \(image) "
                    + "\(missing.names.joined(separator: " "))), create its StorageClass's images without them, or "
                    + "serve the volume with rbd-nbd")
        }
    }
}
