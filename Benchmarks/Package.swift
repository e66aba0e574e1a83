// swift-tools-version: 6.1
//
// Samsa's package-benchmark suites. Run: `make bench` (or `cd Benchmarks && swift package benchmark`).
// A separate package so that the main build and `make test` do not compile the benchmark harness.
import PackageDescription
import struct Foundation.URL

// SwiftPM names a path dependency after its folder, which differs between clones (CI, worktrees).
let samsa = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

/// One executable per suite, each in Benchmarks/<Suite>/<Suite>.swift.
let suites = ["CRCBenchmarks", "CodecBenchmarks", "RecordBenchmarks", "LogBenchmarks"]

let package = Package(
    name: "SamsaBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: suites.map { suite in
        .executableTarget(
            name: suite,
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SamsaLog", package: samsa),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/\(suite)",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    }
)
