// swift-tools-version: 6.1
//
// Samsa: a Kafka-compatible commit log. Layers (arrows point at what a layer may import):
//   samsa (CLI) -> SamsaBroker, SamsaClient -> SamsaProtocol ; SamsaBroker -> SamsaLog -> C shims
// SamsaLog has no networking; SamsaProtocol has no I/O. See ARCHITECTURE in README.md.
import PackageDescription

let package = Package(
    name: "Samsa",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SamsaLog", targets: ["SamsaLog"]),
        .library(name: "SamsaProtocol", targets: ["SamsaProtocol"]),
        .library(name: "SamsaBroker", targets: ["SamsaBroker"]),
        .library(name: "SamsaClient", targets: ["SamsaClient"]),
        .executable(name: "samsa", targets: ["samsa"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // System libraries: Debian's -dev packages, found through pkg-config.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        // CRC32C with SSE4.2 + carry-less multiply where the CPU has them, portable tables otherwise.
        .target(name: "CSamsaCRC"),
        // The few system calls the C library does not show Swift (Linux fallocate with FALLOC_FL_KEEP_SIZE).
        .target(name: "CSamsaSys"),

        .target(
            name: "SamsaLog",
            dependencies: [
                "CLZ4", "CZlib", "CZstd", "CSnappy", "CSamsaCRC", "CSamsaSys",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Collections", package: "swift-collections"),
            ]
        ),
        .target(
            name: "SamsaProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "SamsaBroker",
            dependencies: [
                "SamsaLog", "SamsaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]
        ),
        .target(
            name: "SamsaClient",
            dependencies: [
                "SamsaProtocol", "SamsaLog",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "samsa",
            dependencies: [
                "SamsaLog", "SamsaBroker", "SamsaClient", "SamsaProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // A child process for crash tests: appends (or cleans) until a test kills it with SIGKILL.
        .executableTarget(name: "SamsaTorture", dependencies: ["SamsaLog"]),

        .testTarget(name: "SamsaLogTests", dependencies: ["SamsaLog"]),
        .testTarget(
            name: "SamsaProtocolTests",
            dependencies: ["SamsaProtocol", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "SamsaClientTests", dependencies: ["SamsaClient", "SamsaProtocol", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(
            name: "SamsaBrokerTests",
            dependencies: [
                "SamsaBroker", "SamsaLog", "SamsaProtocol",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ]
)
