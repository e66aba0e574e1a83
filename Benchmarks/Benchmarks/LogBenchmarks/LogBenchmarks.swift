import Benchmark
import SamsaLog

let benchmarks: @Sendable () -> Void = {
    Benchmark("LogBenchmarks placeholder") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(0) }
    }
}
