// swift-tools-version: 6.0
//
// swift-krbd: attach Ceph RBD images to a Linux node by talking to the kernel directly
// (sysfs rbd bus, mount(2), libblkid, libmount), and mount them for workloads.
import PackageDescription

/// Debug builds (and so `swift test`) compile the syscall mocks in; release builds do not.
let mocking: [SwiftSetting] = [.define("ENABLE_MOCKING", .when(configuration: .debug))]

let package = Package(
    name: "swift-krbd",
    products: [
        .library(name: "KRBD", targets: ["KRBD"]),
        .library(name: "BlockMount", targets: ["BlockMount"]),
        .library(name: "RBDVolume", targets: ["RBDVolume"]),
        .executable(name: "krbd", targets: ["krbd"]),
    ],
    dependencies: [
        // FilePath and Errno; our own syscall layer wraps the calls themselves.
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The `krbd` command line.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Per-phase timings and events for node agents that embed the library.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // `swift package generate-documentation` (scripts/docs): a command plugin, which no target
        // depends on, so `swift build` does not build it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // libblkid + libmount headers and tiny static-inline helpers for syscalls glibc hides.
        .systemLibrary(
            name: "CSupport",
            path: "CSupport",
            pkgConfig: "mount",
            providers: [.apt(["libblkid-dev", "libmount-dev", "pkg-config"])]
        ),
        // The one syscall layer: every side-effecting libc call, errno, mocking hooks.
        .target(
            name: "LinuxSystem",
            dependencies: ["CSupport", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: mocking
        ),
        // The kernel's rbd bus: map, find, unmap, keyring, doctor.
        .target(
            name: "KRBD",
            dependencies: [
                "LinuxSystem", .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: mocking
        ),
        // Block devices and mounts: probe, safe format, mount, bind, unmount, ownership.
        .target(
            name: "BlockMount",
            dependencies: [
                "LinuxSystem", "CSupport", .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: mocking
        ),
        // The volume plugin manager and the rbd volume lifecycle.
        .target(
            name: "RBDVolume",
            dependencies: [
                "KRBD", "BlockMount", "LinuxSystem",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: mocking
        ),
        .executableTarget(
            name: "krbd",
            dependencies: [
                "KRBD", "BlockMount", "RBDVolume", "LinuxSystem",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmarks: ours vs the raw syscalls vs the CLI path, printed as ratios (scripts/bench).
        .executableTarget(
            name: "krbd-bench",
            dependencies: [
                "KRBD", "BlockMount", "RBDVolume", "LinuxSystem",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/krbd-bench",
            // Debug builds trace ours' syscalls in `krbd-bench steps` (the mock driver's trace).
            swiftSettings: mocking
        ),
        // libFuzzer targets for every parser of outside input (scripts/fuzz builds them with
        // -sanitize=fuzzer,address; a plain build replays saved inputs). In this package so that
        // `package` symbols (MountInfo) are in reach.
        .executableTarget(
            name: "krbd-fuzz",
            dependencies: [
                "KRBD", "BlockMount", "RBDVolume", "LinuxSystem",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/krbd-fuzz"
        ),
        .testTarget(
            name: "SwiftKRBDTests",
            dependencies: [
                "KRBD", "BlockMount", "RBDVolume", "LinuxSystem", "CSupport",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: mocking
        ),
    ]
)
