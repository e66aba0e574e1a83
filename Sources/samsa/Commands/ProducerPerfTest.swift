import ArgumentParser
import SamsaClient
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `samsa producer-perf-test`: Kafka's `kafka-producer-perf-test.sh`, with its summary lines.
struct ProducerPerfTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "producer-perf-test",
        abstract: "Produce records as fast as possible (or at --throughput) and report throughput and latency.",
        discussion: """
            Prints a window line every 5 seconds and the summary at the end, as Kafka's tool does:
              1000000 records sent, 412371.1 records/sec (39.33 MB/sec), 41.23 ms avg latency, 210.00 ms max latency, 38 ms 50th, 96 ms 95th, 120 ms 99th, 201 ms 99.9th.
            Latency is from send to acknowledgement. Each payload is --record-size random uppercase letters, as in
            Kafka. On a terminal a progress line shows the count so far.

            Examples:
              samsa producer-perf-test --topic perf --num-records 1000000 --record-size 100 --throughput -1 \\
                  --producer-props bootstrap.servers=127.0.0.1:9092 acks=1 linger.ms=5 batch.size=1048576
              samsa producer-perf-test --topic perf --num-records 100000 --payload-monotonic --throughput 10000 \\
                  --bootstrap-server 127.0.0.1:9092
            """)

    @Option(name: .customLong("topic"), help: "Produce messages to this topic.")
    var topic: String

    @Option(name: .customLong("num-records"), help: "Number of messages to produce.")
    var numRecords: Int64

    @Option(name: .customLong("record-size"), help: "Message size in bytes (exactly one of --record-size, --payload-file, --payload-monotonic).")
    var recordSize: Int?

    @Option(name: .customLong("payload-file"), help: "File of payloads (UTF-8 text split by --payload-delimiter), picked at random.")
    var payloadFile: String?

    @Flag(name: .customLong("payload-monotonic"), help: "Payload is the record's index as a decimal string.")
    var payloadMonotonic = false

    @Option(name: .customLong("payload-delimiter"), help: "Delimiter of --payload-file (default: newline).")
    var payloadDelimiter: String = "\\n"

    @Option(name: .customLong("throughput"), parsing: .unconditional, help: "Throttle to about this many messages/sec; -1 for no limit.")
    var throughput: Double

    @Option(name: .customLong("producer-props"), parsing: .upToNextOption, help: "Producer properties key=value ... (bootstrap.servers, acks, linger.ms, batch.size, compression.type...).")
    var producerProps: [String] = []

    @Option(name: .customLong("producer.config"), help: "Producer properties file.")
    var producerConfig: String?

    @Option(name: .customLong("bootstrap-server"), help: "The server(s) to connect to (else bootstrap.servers in the properties).")
    var bootstrapServer: String?

    @Flag(name: .customLong("print-metrics"), help: "Accepted for compatibility; samsa prints no client metrics.")
    var printMetrics = false

    @Option(name: .customLong("transactional-id"), help: "Transactions are not supported.")
    var transactionalId: String?

    @Option(name: .customLong("reporting-interval"), help: "Milliseconds between window lines.")
    var reportingIntervalMs: Int64 = 5_000

    func validate() throws {
        if numRecords <= 0 { throw ValidationError("--num-records should be greater than zero") }
        if let recordSize, recordSize <= 0 { throw ValidationError("--record-size should be greater than zero") }
        let payloads = [recordSize != nil, payloadFile != nil, payloadMonotonic].filter { $0 }.count
        if payloads != 1 {
            throw ValidationError("Exactly one of --record-size, --payload-file or --payload-monotonic must be given")
        }
        if producerProps.isEmpty && producerConfig == nil && bootstrapServer == nil {
            throw ValidationError("Either --producer-props or --producer.config must be specified.")
        }
        if transactionalId != nil { throw ValidationError("--transactional-id: transactions are not supported by samsa") }
        if reportingIntervalMs <= 0 { throw ValidationError("--reporting-interval must be positive") }
    }

    func run() async throws {
        try await reportingErrors {
            var properties = try producerConfig.map(loadPropertiesFile) ?? [:]
            properties.merge(try parseProperties(producerProps, option: "--producer-props")) { $1 }
            if let bootstrapServer { properties["bootstrap.servers"] = bootstrapServer }
            guard let bootstrap = properties["bootstrap.servers"] else {
                throw CommandFailure("bootstrap.servers is not set (give --bootstrap-server or --producer-props bootstrap.servers=host:port)")
            }
            if properties["client.id"] == nil { properties["client.id"] = "perf-producer-client" }
            var config = ProducerConfig(client: try ClientConfig(bootstrap: bootstrap))
            warnUnused(try config.apply(properties), what: "producer")
            try await runTest(config: config, payloads: try loadPayloads())
        }
    }

    private func loadPayloads() throws -> [[UInt8]] {
        guard let payloadFile else { return [] }
        let text = String(decoding: try readFile(payloadFile), as: UTF8.self)
        let delimiter = payloadDelimiter == "\\n" ? "\n" : payloadDelimiter
        let payloads = text.split(separator: delimiter, omittingEmptySubsequences: false).map { Array($0.utf8) }
        if payloads.isEmpty || text.isEmpty { throw CommandFailure("File does not exist or empty file provided.") }
        print("Reading payloads from: \(payloadFile)")
        print("Number of messages read: \(payloads.count)")
        return payloads
    }

    private func runTest(config: ProducerConfig, payloads: [[UInt8]]) async throws {
        let startMs = wallClockMillis()
        let progress = ProgressLine(enabled: Terminal.stderrIsTTY && Terminal.stdoutIsTTY)
        let stats = Mutex(ProducerPerformanceStats(numRecords: numRecords, reportingIntervalMs: reportingIntervalMs, startMs: startMs))
        let failures = Mutex<(count: Int64, first: ClientError?)>((0, nil))
        let total = numRecords
        let originNs = ProgressLine.monotonicNs()
        let producer = Producer(config: config) { report in
            let nowNs = ProgressLine.monotonicNs()
            if let error = report.error {
                failures.withLock { state in
                    state.count += 1
                    if state.first == nil { state.first = error }
                }
                return
            }
            let sendNs = report.opaque >> 24
            let bytes = Int(report.opaque & 0xFF_FFFF)
            let latency = Int32(clamping: (Int64(nowNs - originNs) - Int64(sendNs) * 1_000) / 1_000_000)
            let (line, count) = stats.withLock { stats in
                (stats.record(latencyMs: latency, bytes: bytes, nowMs: wallClockMillis()), stats.count)
            }
            if let line {
                progress.clear()
                print(line)
            }
            progress.update("\(NumberFormat.grouped(count)) / \(NumberFormat.grouped(total)) records acknowledged")
        }
        var throttler = ThroughputThrottler(targetPerSec: throughput, startMs: startMs)
        let throttled = throughput >= 0
        // Options read once: a property wrapper's getter is not free in a hot loop.
        let (topic, count, monotonic) = (self.topic, numRecords, payloadMonotonic)
        var payload = [UInt8](repeating: 0, count: recordSize ?? 0)
        var random = Xorshift(seed: 0x9E37_79B9_7F4A_7C15)
        do {
            for i in 0..<count {
                if !payloads.isEmpty {
                    payload = payloads[Int(random.next() % UInt64(payloads.count))]
                } else if monotonic {
                    payload = Array(String(i).utf8)
                } else {
                    random.fillUppercase(&payload)
                }
                // The opaque value carries the send time (µs since the start, 40 bits) and the payload size (24 bits).
                let sendMicros = (ProgressLine.monotonicNs() - originNs) / 1_000
                let opaque = (sendMicros << 24) | UInt64(min(payload.count, 0xFF_FFFF))
                try await producer.send(topic: topic, key: nil, value: payload, target: .opaque(opaque))
                if throttled && throttler.shouldThrottle(amountSoFar: i, sendStartMs: wallClockMillis()) {
                    let nanos = throttler.throttleNanos()
                    if nanos > 0 { try? await Task.sleep(for: .nanoseconds(nanos)) }
                }
            }
        } catch {
            progress.clear()
            await producer.close(flush: false)
            throw error
        }
        await producer.close(flush: true)
        progress.clear()
        let line = stats.withLock { $0.totalLine(nowMs: wallClockMillis()) }
        print(line)
        let (failed, first) = failures.withLock { ($0.count, $0.first) }
        if failed > 0 {
            throw CommandFailure("\(failed) records failed (first error: \(first.map { "\($0)" } ?? "?"))")
        }
    }
}

/// A fast deterministic generator for payload bytes (xorshift64*).
struct Xorshift {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 1 : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// Fills with random letters A-Z, as Kafka's perf tool does (`random.nextInt(26) + 65`).
    mutating func fillUppercase(_ bytes: inout [UInt8]) {
        var i = 0
        let count = bytes.count
        bytes.withUnsafeMutableBufferPointer { out in
            while i < count {
                var r = next()
                for _ in 0..<8 where i < count {
                    out[i] = UInt8(65 + (r & 0xFF) % 26)
                    r >>= 8
                    i += 1
                }
            }
        }
    }
}

/// The bytes of a file.
func readFile(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "r") else {
        throw CommandFailure("cannot read \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
}
