// The package's version, as `krbd --version` prints it. Bumped with each release tag (vX.Y.Z).

/// The version of swift-krbd (semantic versioning; `-dev` between releases).
public let krbdVersion = "0.6.0"
