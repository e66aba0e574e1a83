/// Kafka's `ProducerPerformance.Stats`: counts, latencies (a sample of at most ~500,000), the window line
/// printed every reporting interval and the final summary line, in Kafka's exact formats.
///
/// ```swift
/// var stats = ProducerPerformanceStats(numRecords: 1_000, reportingIntervalMs: 5_000, startMs: now)
/// if let line = stats.record(latencyMs: 3, bytes: 100, nowMs: now + 3) { print(line) }
/// print(stats.totalLine(nowMs: now + 10))
/// // 1 records sent, 100.0 records/sec (0.01 MB/sec), 3.00 ms avg latency, 3.00 ms max latency, 3 ms 50th, ...
/// ```
public struct ProducerPerformanceStats: Sendable {
    public let start: Int64
    private var latencies: [Int32]
    private let sampling: Int64
    private let reportingIntervalMs: Int64
    private var iteration: Int64 = 0
    private var index = 0
    public private(set) var count: Int64 = 0
    public private(set) var bytes: Int64 = 0
    private var maxLatency: Int32 = 0
    private var totalLatency: Int64 = 0
    private var windowCount: Int64 = 0
    private var windowMaxLatency: Int32 = 0
    private var windowTotalLatency: Int64 = 0
    private var windowBytes: Int64 = 0
    private var windowStart: Int64

    public init(numRecords: Int64, reportingIntervalMs: Int64 = 5_000, startMs: Int64) {
        precondition(numRecords > 0, "at least one record")
        self.start = startMs
        self.windowStart = startMs
        self.sampling = numRecords / min(numRecords, 500_000)
        self.latencies = [Int32](repeating: 0, count: Int(numRecords / sampling) + 1)
        self.reportingIntervalMs = reportingIntervalMs
    }

    /// Records one acknowledged record; returns the window line when a reporting interval has passed.
    public mutating func record(latencyMs: Int32, bytes: Int, nowMs: Int64) -> String? {
        count += 1
        self.bytes += Int64(bytes)
        totalLatency += Int64(latencyMs)
        maxLatency = max(maxLatency, latencyMs)
        windowCount += 1
        windowBytes += Int64(bytes)
        windowTotalLatency += Int64(latencyMs)
        windowMaxLatency = max(windowMaxLatency, latencyMs)
        if iteration % sampling == 0 && index < latencies.count {
            latencies[index] = latencyMs
            index += 1
        }
        iteration += 1
        guard nowMs - windowStart >= reportingIntervalMs else { return nil }
        let line = windowLine(nowMs: nowMs)
        windowStart = nowMs
        windowCount = 0
        windowMaxLatency = 0
        windowTotalLatency = 0
        windowBytes = 0
        return line
    }

    /// `%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.`
    public func windowLine(nowMs: Int64) -> String {
        let elapsed = Double(nowMs - windowStart)
        let recordsPerSec = 1000.0 * Double(windowCount) / elapsed
        let mbPerSec = 1000.0 * Double(windowBytes) / elapsed / (1024.0 * 1024.0)
        return "\(windowCount) records sent, \(NumberFormat.fixed(recordsPerSec, decimals: 1)) records/sec "
            + "(\(NumberFormat.fixed(mbPerSec, decimals: 2)) MB/sec), "
            + "\(NumberFormat.fixed(Double(windowTotalLatency) / Double(windowCount), decimals: 1)) ms avg latency, "
            + "\(NumberFormat.fixed(Double(windowMaxLatency), decimals: 1)) ms max latency."
    }

    /// `%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency,
    /// %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.`
    public func totalLine(nowMs: Int64) -> String {
        let elapsed = Double(nowMs - start)
        let recordsPerSec = 1000.0 * Double(count) / elapsed
        let mbPerSec = 1000.0 * Double(bytes) / elapsed / (1024.0 * 1024.0)
        let p = percentiles([0.5, 0.95, 0.99, 0.999])
        return "\(count) records sent, \(NumberFormat.fixed(recordsPerSec, decimals: 1)) records/sec "
            + "(\(NumberFormat.fixed(mbPerSec, decimals: 2)) MB/sec), "
            + "\(NumberFormat.fixed(Double(totalLatency) / Double(count), decimals: 2)) ms avg latency, "
            + "\(NumberFormat.fixed(Double(maxLatency), decimals: 2)) ms max latency, "
            + "\(p[0]) ms 50th, \(p[1]) ms 95th, \(p[2]) ms 99th, \(p[3]) ms 99.9th."
    }

    /// Kafka's percentile pick: sort the sample, take element `Int(p * size)`.
    public func percentiles(_ ps: [Double]) -> [Int32] {
        let size = min(index, latencies.count)
        guard size > 0 else { return ps.map { _ in 0 } }
        let sorted = latencies[0..<size].sorted()
        return ps.map { sorted[min(Int($0 * Double(size)), size - 1)] }
    }
}

/// Kafka's `ConsumerPerformance` output: the header line and the summary line.
public enum ConsumerPerformanceFormat {
    /// `start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
    /// fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec` (the detailed form starts `time, threadId`).
    public static func header(detailed: Bool = false) -> String {
        let extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        return detailed
            ? "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec\(extra)"
            : "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec\(extra)"
    }

    /// `%s, %s, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f`.
    public static func summary(
        startMs: Int64, endMs: Int64, bytes: Int64, messages: Int64, joinTimeMs: Int64 = 0,
        dateFormat: String = "yyyy-MM-dd HH:mm:ss:SSS"
    ) -> String {
        let elapsedSec = Double(endMs - startMs) / 1000.0
        let fetchTimeMs = (endMs - startMs) - joinTimeMs
        let mb = Double(bytes) / (1024.0 * 1024.0)
        let f = { (x: Double) in NumberFormat.fixed(x, decimals: 4) }
        return "\(NumberFormat.date(startMs, pattern: dateFormat)), \(NumberFormat.date(endMs, pattern: dateFormat)), "
            + "\(f(mb)), \(f(mb / elapsedSec)), \(messages), \(f(Double(messages) / elapsedSec)), "
            + "\(joinTimeMs), \(fetchTimeMs), \(f(mb / (Double(fetchTimeMs) / 1000.0))), "
            + "\(f(Double(messages) / (Double(fetchTimeMs) / 1000.0)))"
    }

    /// One `--show-detailed-stats` line: `%s, %d, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f`.
    public static func progress(
        id: Int, bytes: Int64, lastBytes: Int64, messages: Int64, lastMessages: Int64, startMs: Int64, endMs: Int64,
        joinTimeMs: Int64 = 0, dateFormat: String = "yyyy-MM-dd HH:mm:ss:SSS"
    ) -> String {
        let elapsedMs = Double(endMs - startMs)
        let totalMb = Double(bytes) / (1024.0 * 1024.0)
        let intervalMb = Double(bytes - lastBytes) / (1024.0 * 1024.0)
        let f = { (x: Double) in NumberFormat.fixed(x, decimals: 4) }
        let fetchTimeMs = endMs - startMs - joinTimeMs
        let fetchMbPerSec = fetchTimeMs <= 0 ? 0.0 : 1000.0 * intervalMb / Double(fetchTimeMs)
        let fetchMsgPerSec = fetchTimeMs <= 0 ? 0.0 : 1000.0 * Double(messages - lastMessages) / Double(fetchTimeMs)
        return "\(NumberFormat.date(endMs, pattern: dateFormat)), \(id), \(f(totalMb)), \(f(1000.0 * intervalMb / elapsedMs)), "
            + "\(messages), \(f(Double(messages - lastMessages) / elapsedMs * 1000.0)), "
            + "\(joinTimeMs), \(fetchTimeMs), \(f(fetchMbPerSec)), \(f(fetchMsgPerSec))"
    }
}

/// Kafka's `ThroughputThrottler`: sleeps the sender so that it stays near `targetPerSec` records per second.
public struct ThroughputThrottler: Sendable {
    public let targetPerSec: Double
    private let startMs: Int64
    private let sleepTimeNs: Int64
    private let minSleepNs: Int64 = 2_000_000
    private var sleepDeficitNs: Int64 = 0

    public init(targetPerSec: Double, startMs: Int64) {
        self.targetPerSec = targetPerSec
        self.startMs = startMs
        self.sleepTimeNs = targetPerSec > 0 ? Int64(1_000_000_000 / targetPerSec) : Int64.max
    }

    /// Whether the sender is ahead of the target after `amountSoFar` records at `sendStartMs`.
    public func shouldThrottle(amountSoFar: Int64, sendStartMs: Int64) -> Bool {
        guard targetPerSec >= 0 else { return false }
        let elapsedSec = Double(sendStartMs - startMs) / 1000.0
        return elapsedSec > 0 && Double(amountSoFar) / elapsedSec > targetPerSec
    }

    /// How long to sleep now (nanoseconds), accumulating small deficits as Kafka does; 0 for none.
    public mutating func throttleNanos() -> Int64 {
        if targetPerSec == 0 { return 1_000_000_000 }  // Kafka waits forever; we re-check every second
        sleepDeficitNs += sleepTimeNs
        guard sleepDeficitNs >= minSleepNs else { return 0 }
        defer { sleepDeficitNs = 0 }
        return sleepDeficitNs
    }
}
