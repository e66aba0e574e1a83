// Record batches in memory: what validating a batch costs beside the CRC it must compute anyway, and how fast the
// records of a batch of 100-byte records can be iterated (with and without decompression), beside the raw cost
// of the bytes (CRC32C alone, decompression alone).
//
//   cd Benchmarks && swift package --disable-sandbox benchmark --target RecordBenchmarks
//
// Every sample handles one 16 KiB batch 1,000 times (`scalingFactor: .kilo`). Targets: validating an uncompressed
// batch's header + CRC costs <= 1.2x the CRC alone (compare the two rows' wall clock); iteration figures are in
// `Krec/s` (thousands of records per second) and `MB/s` (MB = 2^20 bytes of batch) per sample.
import Benchmark
import SamsaLog

/// A 16 KiB batch of 100-byte values: incompressible bytes for `none`, JSON-like text for the codecs (so that they
/// compress as real payloads do).
func makeBatch(codec: CompressionCodec, recordSize: Int = 100, batchBytes: Int = 16 << 10) -> (bytes: [UInt8], records: Int) {
    var builder = RecordBatchBuilder(codec: codec)
    var random = SystemRandomNumberGenerator()
    var i = 0
    // For compressed batches, the uncompressed records fill 16 KiB, as a producer's batch.size counts them.
    while builder.estimatedSize + recordSize + 10 <= batchBytes {
        let value: [UInt8]
        if codec == .none {
            value = (0..<recordSize).map { _ in UInt8.random(in: 0...255, using: &random) }
        } else {
            let text = "{\"i\": \(i), \"user\": \"u\(Int.random(in: 1000...9999, using: &random))\", \"pad\": \""
            value = Array((text + String(repeating: "x", count: max(0, recordSize - text.utf8.count - 2)) + "\"}").utf8)
        }
        value.withUnsafeBytes { builder.append(timestamp: 1_732_400_000_000 + Int64(i), key: nil, value: $0) }
        i += 1
    }
    return (try! builder.build(), Int(builder.recordCount))
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let (s, atto) = (ContinuousClock.now - start).components
    return Double(s) + Double(atto) / 1e18
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .custom("Krec/s", polarity: .prefersLarger, useScalingFactor: false), .custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)],
        timeUnits: .nanoseconds, warmupIterations: 3, scalingFactor: .kilo, maxDuration: .seconds(2))
    func rates(_ benchmark: Benchmark, batch: [UInt8], records: Int, start: ContinuousClock.Instant) {
        let elapsed = seconds(since: start)
        let count = benchmark.scaledIterations.count
        benchmark.measurement(.custom("Krec/s", polarity: .prefersLarger, useScalingFactor: false), Int(Double(count * records) / 1000 / elapsed))
        benchmark.measurement(.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false), Int(Double(count * batch.count) / 1_048_576 / elapsed))
    }

    // MARK: Validation against the CRC it contains

    let (plain, plainRecords) = makeBatch(codec: .none)
    Benchmark("Validate 16 KiB batch: RecordBatch(validating:) header + CRC", configuration: configuration) { benchmark in
        let start = ContinuousClock.now
        try plain.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations { blackHole(try RecordBatch(validating: bytes).recordCount) }
        }
        rates(benchmark, batch: plain, records: plainRecords, start: start)
    }
    Benchmark("Validate 16 KiB batch: baseline CRC32C alone of the same bytes", configuration: configuration) { benchmark in
        let start = ContinuousClock.now
        plain.withUnsafeBytes { bytes in
            let covered = UnsafeRawBufferPointer(rebasing: bytes[21...])
            for _ in benchmark.scaledIterations { blackHole(CRC32C.checksum(covered)) }
        }
        rates(benchmark, batch: plain, records: plainRecords, start: start)
    }

    // MARK: Validation + iterating every record

    Benchmark("Validate + iterate 100-byte records: none", configuration: configuration) { benchmark in
        var scratch: [UInt8] = []
        let start = ContinuousClock.now
        try plain.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                let batch = try RecordBatch(validating: bytes)
                var sum = 0
                try batch.forEachRecord(scratch: &scratch) { sum &+= $0.value!.count &+ Int($0.timestamp & 1) }
                blackHole(sum)
            }
        }
        rates(benchmark, batch: plain, records: plainRecords, start: start)
    }
    Benchmark("Validate + iterate 100-byte records: none, validateRecords (the producer-side check)", configuration: configuration) { benchmark in
        var scratch: [UInt8] = []
        let start = ContinuousClock.now
        try plain.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                let batch = try RecordBatch(validating: bytes)
                blackHole(try batch.validateRecords(scratch: &scratch))
            }
        }
        rates(benchmark, batch: plain, records: plainRecords, start: start)
    }

    for codec in [CompressionCodec.lz4, .zstd] {
        let (compressed, records) = makeBatch(codec: codec)
        Benchmark("Validate + iterate 100-byte records: \(codec)", configuration: configuration) { benchmark in
            var scratch: [UInt8] = []
            let start = ContinuousClock.now
            try compressed.withUnsafeBytes { bytes in
                for _ in benchmark.scaledIterations {
                    let batch = try RecordBatch(validating: bytes)
                    var sum = 0
                    try batch.forEachRecord(scratch: &scratch) { sum &+= $0.value!.count }
                    blackHole(sum)
                }
            }
            rates(benchmark, batch: compressed, records: records, start: start)
        }
        Benchmark("Validate + iterate 100-byte records: \(codec), baseline decompression alone", configuration: configuration) { benchmark in
            var output: [UInt8] = []
            let start = ContinuousClock.now
            try compressed.withUnsafeBytes { bytes in
                let section = UnsafeRawBufferPointer(rebasing: bytes[61...])
                for _ in benchmark.scaledIterations {
                    output.removeAll(keepingCapacity: true)
                    try Compression.decompress(section, codec: codec, limit: 1 << 20, into: &output)
                    blackHole(output.count)
                }
            }
            rates(benchmark, batch: compressed, records: records, start: start)
        }
    }
}
