import ArgumentParser
import SamsaClient
import SamsaLog
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `samsa console-consumer`: Kafka's `kafka-console-consumer.sh`: prints records to standard output.
struct ConsoleConsumer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console-consumer",
        abstract: "Consume records from a topic and print them to standard output.",
        discussion: """
            Without --partition, reads every partition of the topic, from the end (or from the beginning with
            --from-beginning). Stops after --max-messages, after --timeout-ms without a record (with --group: once
            the group has formed), or on Ctrl-C,
            then prints "Processed a total of N messages" on standard error. With --group the consumer joins that
            consumer group: the group's members share the topic's partitions, each starts where the group
            committed last (else at the end, or the beginning with --from-beginning), and what it printed is
            committed when it exits (enable.auto.commit=true, Kafka's default). When standard output is not a
            terminal but standard error is, a progress line counts the records.

            Examples:
              samsa console-consumer --bootstrap-server 127.0.0.1:9092 --topic quickstart-events --from-beginning
              samsa console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --group billing --from-beginning
              samsa console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --partition 0 --offset 42 \\
                  --max-messages 10 --property print.key=true --property print.offset=true
            """)

    @Option(name: .customLong("bootstrap-server"), help: "REQUIRED: The server(s) to connect to (host:port[,...]).")
    var bootstrapServer: String

    @Option(name: .customLong("topic"), help: "The topic to consume.")
    var topic: String?

    @Option(name: .customLong("include"), help: "Regular expression of the topics to consume (whole names).")
    var include: String?

    @Option(name: .customLong("partition"), help: "The partition to consume; starts at the end unless --offset or --from-beginning.")
    var partition: Int32?

    @Option(name: .customLong("offset"), help: "With --partition: 'earliest', 'latest' or a non-negative offset.")
    var offset: String?

    @Flag(name: .customLong("from-beginning"), help: "Start with the earliest record rather than the latest.")
    var fromBeginning = false

    @Option(name: .customLong("max-messages"), help: "Exit after this many messages.")
    var maxMessages: Int?

    @Option(name: .customLong("timeout-ms"), help: "Exit when no message arrives for this long.")
    var timeoutMs: Int64?

    @Option(name: .customLong("property"), help: "Formatter property: print.key, print.value, print.timestamp, print.offset, print.partition, print.headers, key.separator, line.separator, headers.separator, null.literal; repeatable.")
    var property: [String] = []

    @Option(name: .customLong("formatter"), help: "Only Kafka's DefaultMessageFormatter is supported.")
    var formatter: String?

    @Option(name: .customLong("formatter-config"), help: "Formatter properties file (--property wins).")
    var formatterConfig: String?

    @Option(name: .customLong("consumer-property"), help: "A consumer property key=value; repeatable.")
    var consumerProperty: [String] = []

    @Option(name: .customLong("consumer.config"), help: "Consumer properties file (--consumer-property wins).")
    var consumerConfig: String?

    @Option(name: .customLong("isolation-level"), help: "read_uncommitted or read_committed.")
    var isolationLevel: String = "read_uncommitted"

    @Option(name: .customLong("group"), help: "The consumer group id of the consumer.")
    var group: String?

    @Flag(name: .customLong("skip-message-on-error"), help: "Accepted for compatibility.")
    var skipMessageOnError = false

    func validate() throws {
        if group != nil && partition != nil { throw ValidationError("Options group and partition cannot be specified together.") }
        guard (topic == nil) != (include == nil) else { throw ValidationError("Exactly one of --include/--topic is required.") }
        if partition != nil && topic == nil { throw ValidationError("The topic is required when partition is specified.") }
        if offset != nil {
            guard partition != nil else { throw ValidationError("The partition is required when offset is specified.") }
            if fromBeginning { throw ValidationError("Options from-beginning and offset cannot be specified together.") }
            if parsedOffset == nil {
                throw ValidationError("The provided offset value '\(offset!)' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long.")
            }
        }
        if let formatter, !formatter.hasSuffix("DefaultMessageFormatter") {
            throw ValidationError("--formatter \(formatter) is not supported; samsa prints with Kafka's DefaultMessageFormatter rules")
        }
        if let maxMessages, maxMessages <= 0 { throw ValidationError("--max-messages must be positive") }
    }

    private var parsedOffset: OffsetSpec? {
        guard let offset else { return nil }
        switch offset.lowercased() {
        case "earliest": return .earliest
        case "latest": return .latest
        default:
            guard let n = Int64(offset), n >= 0 else { return nil }
            return .offset(n)
        }
    }

    func run() async throws {
        Terminal.ignoreSigpipe()
        try await reportingErrors {
            var formatterProperties = try formatterConfig.map(loadPropertiesFile) ?? [:]
            formatterProperties.merge(try parseProperties(property, option: "--property")) { $1 }
            let formatter = MessageFormatter(properties: formatterProperties)

            let fileProperties = try consumerConfig.map(loadPropertiesFile) ?? [:]
            let extraProperties = try parseProperties(consumerProperty, option: "--consumer-property")
            var properties = fileProperties
            properties.merge(extraProperties) { $1 }
            // As Kafka's tool: one group id, wherever it is given.
            let groups = Set([group, fileProperties["group.id"], extraProperties["group.id"]].compactMap { $0 })
            if groups.count > 1 {
                throw ValidationError(
                    "The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: "
                        + groups.sorted().map { "'\($0)'" }.joined(separator: ", "))
            }
            if !groups.isEmpty && partition != nil { throw ValidationError("Options group and partition cannot be specified together.") }
            if let reset = properties["auto.offset.reset"], fromBeginning, reset.lowercased() != "earliest" {
                throw ValidationError("Can't simultaneously specify --from-beginning and 'auto.offset.reset=\(reset)', choose only one")
            }
            properties["group.id"] = groups.first
            var config = ConsumerConfig(client: try ClientConfig(bootstrap: bootstrapServer, clientId: "console-consumer"))
            config.autoOffsetReset = fromBeginning ? .earliest : .latest
            try config.apply(["isolation.level": isolationLevel])
            warnUnused(try config.apply(properties), what: "consumer")
            try await consume(config: config, formatter: formatter)
        }
    }

    private func consume(config: ConsumerConfig, formatter: MessageFormatter) async throws {
        let consumer = Consumer(config: config)
        let interrupted = Atomic<Bool>(false)
        let signals = SignalWatcher { interrupted.store(true, ordering: .relaxed) }
        defer { signals.cancel() }
        var count = 0
        let progress = ProgressLine(enabled: Terminal.stderrIsTTY && !Terminal.stdoutIsTTY)
        var out = StdoutBuffer()
        var scratch: [UInt8] = []
        var failure: (any Error)?
        do {
            try await assign(consumer, group: config.groupId != nil)
            var lastRecord = ProgressLine.monotonicNs()
            let pollSliceMs = min(timeoutMs ?? 200, 200)
            // A group member's --timeout-ms counts from its first generation: forming the group (the
            // coordinator's initial rebalance delay, other members joining) is not a wait for records.
            var joined = config.groupId == nil
            loop: while !interrupted.load(ordering: .relaxed) {
                let records = try await consumer.poll(timeoutMs: pollSliceMs)
                if !joined {
                    joined = await consumer.groupGeneration.generationId >= 0
                    lastRecord = ProgressLine.monotonicNs()
                }
                if records.isEmpty {
                    if let timeoutMs, ProgressLine.monotonicNs() - lastRecord > UInt64(timeoutMs) * 1_000_000 { break }
                    continue
                }
                lastRecord = ProgressLine.monotonicNs()
                var stdoutGone = false
                var lastPrinted: (topic: String, partition: Int32, offset: Int64)?
                try records.forEach(scratch: &scratch) { record in
                    out.withBytes { formatter.write(record, into: &$0) }
                    count += 1
                    lastPrinted = (record.topic, record.partition, record.offset)
                    if !out.flushIfFull() {
                        stdoutGone = true
                        return false
                    }
                    if let maxMessages, count >= maxMessages { return false }
                    return true
                }
                let stopping = stdoutGone || (maxMessages.map { count >= $0 } ?? false)
                if stopping && config.groupId != nil {
                    // What was polled but not printed is not consumed: the group's commit at close resumes there.
                    for (tp, next) in records.resumePositions(stoppedAfter: lastPrinted) {
                        try await consumer.seek(tp, to: .offset(next))
                    }
                }
                if stdoutGone || !out.flush() {
                    Terminal.write("Unable to write to standard out, closing consumer.\n", to: STDERR_FILENO)
                    break loop
                }
                progress.update("\(NumberFormat.grouped(Int64(count))) messages")
                if let maxMessages, count >= maxMessages { break }
            }
        } catch {
            failure = error
        }
        out.flush()
        progress.clear()
        await consumer.close()
        if let failure {
            Terminal.write("Error: \(oneLine(failure))\n", to: STDERR_FILENO)
        }
        Terminal.write("Processed a total of \(count) messages\n", to: STDERR_FILENO)
        if failure != nil { throw ExitCode.failure }
        if interrupted.load(ordering: .relaxed) { throw ExitCode(130) }
    }

    private func assign(_ consumer: Consumer, group: Bool) async throws {
        if let topic, let partition {
            let tp = TopicPartition(topic, partition)
            try await consumer.assign([tp])
            try await consumer.seek(tp, to: parsedOffset ?? (fromBeginning ? .earliest : .latest))
            return
        }
        var topics: [String] = []
        if let topic {
            topics = [topic]
        } else if let include {
            let admin = Admin(cluster: consumer.cluster)
            guard let pattern = try? Regex(include) else { throw CommandFailure("invalid --include pattern '\(include)'") }
            topics = try await admin.listTopics().filter { (try? pattern.wholeMatch(in: $0)) != nil }
            if topics.isEmpty { throw CommandFailure("no topic matches '\(include)'") }
        }
        if group {
            // The group's leader shares the topics' partitions among the members (an unknown topic fails here).
            for topic in topics { _ = try await consumer.partitions(of: topic) }
            try await consumer.subscribe(topics)
            return
        }
        var partitions: [TopicPartition] = []
        for topic in topics { partitions += try await consumer.partitions(of: topic) }
        try await consumer.assign(partitions)
    }
}
