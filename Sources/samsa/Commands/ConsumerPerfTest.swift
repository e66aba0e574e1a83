import ArgumentParser
import SamsaClient
import SamsaLog

/// `samsa consumer-perf-test`: Kafka's `kafka-consumer-perf-test.sh`, with its header and summary line.
struct ConsumerPerfTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer-perf-test",
        abstract: "Consume records as fast as possible and report throughput.",
        discussion: """
            Reads every partition of the topic from the beginning (--from-latest: from the end) until --messages
            records have been read, or --timeout ms pass without one. Prints Kafka's header and summary:
              start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
              2024-11-24 10:00:00:000, 2024-11-24 10:00:02:512, 95.3674, 37.9647, 1000000, 398089.1720, 0, 2512, 37.9647, 398089.1720
            Without --group the consumer reads every partition itself (rebalance.time.ms is 0); with --group it
            joins that consumer group (auto.offset.reset from --from-latest, earliest otherwise; committed offsets
            win), and rebalance.time.ms is the time until the group gave it its partitions. On a terminal a
            progress line shows the count so far.

            Examples:
              samsa consumer-perf-test --bootstrap-server 127.0.0.1:9092 --topic perf --messages 1000000
              samsa consumer-perf-test --bootstrap-server 127.0.0.1:9092 --topic perf --messages 1000000 --group perf-1
            """)

    @Option(name: .customLong("bootstrap-server"), help: "REQUIRED: The server(s) to connect to.")
    var bootstrapServer: String

    @Option(name: .customLong("topic"), help: "REQUIRED: The topic to consume from.")
    var topic: String

    @Option(name: .customLong("messages"), help: "REQUIRED: The number of messages to consume.")
    var messages: Int64

    @Option(name: .customLong("group"), help: "The consumer group id.")
    var group: String?

    @Option(name: .customLong("fetch-size"), help: "max.partition.fetch.bytes: the data fetched per partition and request.")
    var fetchSize: Int32 = 1_048_576

    @Flag(name: .customLong("from-latest"), help: "Start at the end of each partition rather than the beginning.")
    var fromLatest = false

    @Option(name: .customLong("socket-buffer-size"), help: "Accepted for compatibility.")
    var socketBufferSize: Int = 2 << 20

    @Option(name: .customLong("consumer.config"), help: "Consumer properties file.")
    var consumerConfig: String?

    @Flag(name: .customLong("print-metrics"), help: "Accepted for compatibility; samsa prints no client metrics.")
    var printMetrics = false

    @Flag(name: .customLong("show-detailed-stats"), help: "Print a line per --reporting-interval.")
    var showDetailedStats = false

    @Option(name: .customLong("timeout"), help: "The maximum time in ms between returned records.")
    var timeout: Int64 = 10_000

    @Option(name: .customLong("reporting-interval"), help: "Interval in ms between detailed lines.")
    var reportingInterval: Int64 = 5_000

    @Option(name: .customLong("date-format"), help: "SimpleDateFormat pattern of the time fields.")
    var dateFormat: String = "yyyy-MM-dd HH:mm:ss:SSS"

    @Flag(name: .customLong("hide-header"), help: "Do not print the header line.")
    var hideHeader = false

    func validate() throws {
        if messages <= 0 { throw ValidationError("--messages must be positive") }
        if reportingInterval <= 0 { throw ValidationError("Reporting interval must be greater than 0.") }
        if fetchSize <= 0 { throw ValidationError("--fetch-size must be positive") }
    }

    func run() async throws {
        try await reportingErrors {
            var properties = try consumerConfig.map(loadPropertiesFile) ?? [:]
            if let group { properties["group.id"] = group }
            if properties["client.id"] == nil { properties["client.id"] = "perf-consumer-client" }
            properties["check.crcs"] = properties["check.crcs"] ?? "false"
            var config = ConsumerConfig(client: try ClientConfig(bootstrap: bootstrapServer))
            warnUnused(try config.apply(properties), what: "consumer")
            config.maxPartitionFetchBytes = fetchSize
            config.autoOffsetReset = fromLatest ? .latest : .earliest
            try await runTest(config: config)
        }
    }

    private func runTest(config: ConsumerConfig) async throws {
        if !hideHeader { print(ConsumerPerformanceFormat.header(detailed: showDetailedStats)) }
        let progress = ProgressLine(enabled: Terminal.stderrIsTTY && Terminal.stdoutIsTTY)
        let consumer = Consumer(config: config)
        let startMs = wallClockMillis()
        var messagesRead: Int64 = 0
        var bytesRead: Int64 = 0
        var lastMessages: Int64 = 0
        var lastBytes: Int64 = 0
        var lastReportMs = startMs
        var lastConsumedMs = startMs
        var scratch: [UInt8] = []
        var joinTimeMs: Int64 = 0
        do {
            let partitions = try await consumer.partitions(of: topic)
            var joined = config.groupId == nil
            if joined {
                try await consumer.assign(partitions)
            } else {
                try await consumer.subscribe([topic])
            }
            var nowMs = startMs
            while messagesRead < messages && nowMs - lastConsumedMs <= timeout {
                let records = try await consumer.poll(timeoutMs: 100)
                nowMs = wallClockMillis()
                if !joined && !consumer.assignment.isEmpty {
                    // rebalance.time.ms: until the group handed this member its partitions.
                    joined = true
                    joinTimeMs = nowMs - startMs
                    lastConsumedMs = nowMs
                }
                if records.isEmpty { continue }
                lastConsumedMs = nowMs
                let want = messages
                try records.forEach(scratch: &scratch) { record in
                    messagesRead += 1
                    bytesRead += Int64(record.key?.count ?? 0) + Int64(record.value?.count ?? 0)
                    return messagesRead < want
                }
                if nowMs - lastReportMs >= reportingInterval {
                    if showDetailedStats {
                        progress.clear()
                        print(ConsumerPerformanceFormat.progress(
                            id: 0, bytes: bytesRead, lastBytes: lastBytes, messages: messagesRead, lastMessages: lastMessages,
                            startMs: lastReportMs, endMs: nowMs, joinTimeMs: lastReportMs == startMs ? joinTimeMs : 0,
                            dateFormat: dateFormat))
                    }
                    lastReportMs = nowMs
                    lastMessages = messagesRead
                    lastBytes = bytesRead
                }
                progress.update("\(NumberFormat.grouped(messagesRead)) / \(NumberFormat.grouped(messages)) messages")
            }
        } catch {
            progress.clear()
            await consumer.close()
            throw error
        }
        let endMs = wallClockMillis()
        progress.clear()
        await consumer.close()
        if messagesRead < messages {
            print("WARNING: Exiting before consuming the expected number of messages: timeout (\(timeout) ms) exceeded. You can use the --timeout option to increase the timeout.")
        }
        if !showDetailedStats {
            print(ConsumerPerformanceFormat.summary(
                startMs: startMs, endMs: endMs, bytes: bytesRead, messages: messagesRead, joinTimeMs: joinTimeMs,
                dateFormat: dateFormat))
        }
    }
}
