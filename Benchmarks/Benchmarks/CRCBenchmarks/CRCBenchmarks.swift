// CRC32C throughput over one 16 KiB and one 1 MiB buffer, for every implementation this CPU can run, beside
// two raw baselines over the same bytes: a SIMD sum of its 64-bit words (reads every byte once, as a CRC does)
// and a memcpy.
//
//   cd Benchmarks && swift package --disable-sandbox benchmark --target CRCBenchmarks --grouping metric
//
// Each benchmark run makes 1,000 calls (`scalingFactor: .kilo`); figures marked * are per call. Reading GB/s:
//   - Time (wall clock), ns per call (`timeUnits: .nanoseconds`): GB/s = buffer bytes / ns,
//     i.e. 16384 / t for the 16 KiB rows and 1048576 / t for the 1 MiB rows;
//   - Throughput, thousands of calls per second (K): GB/s = throughput x buffer bytes / 1e6,
//     i.e. throughput x 0.016384 (16 KiB) and throughput x 1.048576 (1 MiB).
// A CRC's time over the "sum" baseline's is how far it is from merely reading the bytes.
import Benchmark
import SamsaLog

let benchmarks: @Sendable () -> Void = {
    let sizes: [(label: String, bytes: Int)] = [("16 KiB", 16 * 1024), ("1 MiB", 1024 * 1024)]
    let implementations = CRC32C.Implementation.allCases.filter(\.isAvailable)

    for size in sizes {
        var random = SystemRandomNumberGenerator()
        let buffer = (0..<size.bytes).map { _ in UInt8.random(in: 0...255, using: &random) }
        // Portable runs take 1,000 x 1 MiB at ~2 GB/s: give them time for a few samples.
        let configuration = Benchmark.Configuration(
            metrics: [.throughput, .wallClock, .mallocCountTotal],
            timeUnits: .nanoseconds,
            scalingFactor: .kilo,
            maxDuration: .seconds(2)
        )

        Benchmark("CRC32C \(size.label) (\(CRC32C.implementation), CRC32C.checksum)", configuration: configuration) {
            benchmark in
            buffer.withUnsafeBytes { bytes in
                for _ in benchmark.scaledIterations {
                    blackHole(CRC32C.checksum(bytes))
                }
            }
        }

        for implementation in implementations {
            Benchmark("CRC32C \(size.label) \(implementation)", configuration: configuration) { benchmark in
                buffer.withUnsafeBytes { bytes in
                    for _ in benchmark.scaledIterations {
                        blackHole(CRC32C.update(0, bytes, using: implementation))
                    }
                }
            }
        }

        Benchmark("Baseline \(size.label) sum of UInt64 words (SIMD)", configuration: configuration) { benchmark in
            buffer.withUnsafeBytes { bytes in
                // [UInt8] storage is 16-byte aligned; the buffer sizes are multiples of 64.
                bytes.withMemoryRebound(to: SIMD8<UInt64>.self) { vectors in
                    for _ in benchmark.scaledIterations {
                        var sum = SIMD8<UInt64>()
                        for vector in vectors { sum &+= vector }
                        blackHole(sum)
                    }
                }
            }
        }

        Benchmark("Baseline \(size.label) memcpy", configuration: configuration) { benchmark in
            let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: size.bytes, alignment: 64)
            defer { destination.deallocate() }
            buffer.withUnsafeBytes { bytes in
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    destination.copyMemory(from: bytes)
                    blackHole(destination[size.bytes - 1])
                }
                benchmark.stopMeasurement()
            }
        }
    }
}
