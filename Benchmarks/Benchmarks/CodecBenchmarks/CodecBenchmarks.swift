// Codec throughput on JSON-like records, beside a memcpy of the same bytes.
//
// Every iteration processes 1 MiB of uncompressed data (64 batches of 16 KiB, or one of 1 MiB), so the
// throughput column (iterations per second) reads directly as MiB/s of uncompressed data, and each codec
// reads as a ratio to "memcpy" at the same size. scripts/codec-baseline.sh runs the lz4 and zstd CLIs'
// benchmarks on the same bytes (same generator, checked by its FNV-1a digest) for the libraries' ceiling.
//
//   cd Benchmarks && swift package --disable-sandbox benchmark --target CodecBenchmarks
import Benchmark
import SamsaLog

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 2_000
    )

    let corpus = CodecSample.json(count: 1 << 20)
    for (label, size) in [("16 KiB", 16 * 1024), ("1 MiB", 1 << 20)] {
        let input = Array(corpus.prefix(size))
        let batches = (1 << 20) / size

        Benchmark("memcpy \(label) (data fnv1a \(String(CodecSample.digest(input), radix: 16)))") { benchmark in
            var output = [UInt8](repeating: 0, count: size)
            for _ in benchmark.scaledIterations {
                for _ in 0..<batches {
                    output.withUnsafeMutableBytes { target in
                        input.withUnsafeBytes { source in target.copyMemory(from: source) }
                    }
                    blackHole(output)
                }
            }
        }

        let codecs: [(name: String, codec: CompressionCodec, level: Int?)] = [
            ("gzip", .gzip, nil), ("snappy", .snappy, nil), ("lz4", .lz4, nil),
            ("zstd", .zstd, nil), ("zstd-1", .zstd, 1),
        ]
        for (name, codec, level) in codecs {
            let compressed = try! Compression.compressed(input, codec: codec, level: level)

            Benchmark("\(name) compress \(label)") { benchmark in
                var output: [UInt8] = []
                output.reserveCapacity(size + size / 8 + 1024)
                for _ in benchmark.scaledIterations {
                    for _ in 0..<batches {
                        output.removeAll(keepingCapacity: true)
                        try! Compression.compress(input, codec: codec, level: level, into: &output)
                        blackHole(output)
                    }
                }
            }

            Benchmark("\(name) decompress \(label) (ratio \(ratio(size, compressed.count)))") { benchmark in
                var output: [UInt8] = []
                output.reserveCapacity(size + 1)
                for _ in benchmark.scaledIterations {
                    for _ in 0..<batches {
                        output.removeAll(keepingCapacity: true)
                        try! Compression.decompress(compressed, codec: codec, limit: size, into: &output)
                        blackHole(output)
                    }
                }
            }
        }
    }
}

private func ratio(_ original: Int, _ compressed: Int) -> String {
    let tenths = (original * 10 + compressed / 2) / compressed
    return "\(tenths / 10).\(tenths % 10)"
}

/// Deterministic JSON lines such as
/// `{"id":17,"user":"u0453","event":"click","ts":1732400000629,"amount":48211,"tags":["web","eu"]}`.
/// scripts/codec-baseline.sh carries the same generator in Python; keep the two in step.
enum CodecSample {
    static let events = ["click", "view", "purchase", "scroll", "login", "logout"]
    static let tags = ["mobile", "web", "eu", "us", "beta", "returning", "ad", "organic"]

    static func json(count: Int) -> [UInt8] {
        var state: UInt64 = 0x5A4D_5341  // "SAMSA"
        func next() -> UInt64 {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 256)
        var id: UInt64 = 0
        while bytes.count < count {
            let r = next()
            let user = String(r % 10_000)
            let tagList = (0..<(r >> 60) % 4).map { "\"\(tags[Int((r >> (8 * $0 + 4)) % 8)])\"" }
            let line = "{\"id\":\(id),\"user\":\"u\(String(repeating: "0", count: 4 - user.count))\(user)\","
                + "\"event\":\"\(events[Int((r >> 16) % 6)])\",\"ts\":\(1_732_400_000_000 + id * 37 + (r >> 24) % 1000),"
                + "\"amount\":\((r >> 34) % 100_000),\"tags\":[\(tagList.joined(separator: ","))]}\n"
            bytes.append(contentsOf: line.utf8)
            id += 1
        }
        return Array(bytes.prefix(count))
    }

    /// FNV-1a 64 of the bytes, to check the script's copy of the generator.
    static func digest(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}
