import ArgumentParser
import SamsaClient
import SamsaLog
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `samsa console-producer`: Kafka's `kafka-console-producer.sh`: each line of standard input is a record.
struct ConsoleProducer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console-producer",
        abstract: "Read lines from standard input and publish them to a topic.",
        discussion: """
            Each line is one record. With --property parse.key=true, a line is key<separator>value.
            On a terminal a '>' prompt asks for each line; end with Ctrl-D. When standard input is a file or a
            pipe and standard error is a terminal, a progress line counts the records sent.

            Examples:
              samsa console-producer --bootstrap-server 127.0.0.1:9092 --topic quickstart-events
              printf 'k1:a\\nk2:b\\n' | samsa console-producer --bootstrap-server 127.0.0.1:9092 --topic orders \\
                  --property parse.key=true --property key.separator=:
              samsa console-producer --bootstrap-server 127.0.0.1:9092 --topic logs --compression-codec lz4 < app.log
            """)

    @Option(name: .customLong("bootstrap-server"), help: "REQUIRED unless --broker-list: the server(s) to connect to (host:port[,...]).")
    var bootstrapServer: String?

    @Option(name: .customLong("broker-list"), help: "Deprecated alias of --bootstrap-server.")
    var brokerList: String?

    @Option(name: .customLong("topic"), help: "REQUIRED: The topic to produce messages to.")
    var topic: String

    @Flag(name: .customLong("sync"), help: "Send each message and wait for its acknowledgement before reading the next line.")
    var sync = false

    @Option(name: .customLong("compression-codec"), defaultAsFlag: "gzip", parsing: .next,
            help: "none, gzip, snappy, lz4 or zstd; without a value, gzip.")
    var compressionCodec: String? = nil

    @Option(name: .customLong("batch-size"), help: "batch.size: bytes of records per partition batch.")
    var batchSize: Int = 16_384

    @Option(name: .customLong("message-send-max-retries"), help: "retries: how many times a failed send is retried.")
    var messageSendMaxRetries: Int = 3

    @Option(name: .customLong("retry-backoff-ms"), help: "retry.backoff.ms.")
    var retryBackoffMs: Int64 = 100

    @Option(name: .customLong("timeout"), help: "linger.ms: how long a batch waits for more records, in ms.")
    var timeout: Int64 = 1_000

    @Option(name: .customLong("request-required-acks"), parsing: .unconditional, help: "acks: -1/all, 1 or 0.")
    var requestRequiredAcks: String = "-1"

    @Option(name: .customLong("request-timeout-ms"), help: "request.timeout.ms.")
    var requestTimeoutMs: Int64 = 1_500

    @Option(name: .customLong("metadata-expiry-ms"), help: "metadata.max.age.ms.")
    var metadataExpiryMs: Int64 = 300_000

    @Option(name: .customLong("max-block-ms"), help: "max.block.ms: how long a send may wait for metadata or memory.")
    var maxBlockMs: Int64 = 60_000

    @Option(name: .customLong("max-memory-bytes"), help: "buffer.memory.")
    var maxMemoryBytes: Int = 32 << 20

    @Option(name: .customLong("max-partition-memory-bytes"), help: "batch.size (overrides --batch-size).")
    var maxPartitionMemoryBytes: Int?

    @Option(name: .customLong("property"), help: "Line reader property (parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker, ignore.error); repeatable.")
    var property: [String] = []

    @Option(name: .customLong("reader-config"), help: "Properties file for the line reader (--property wins).")
    var readerConfig: String?

    @Option(name: .customLong("producer-property"), help: "A producer property key=value; repeatable.")
    var producerProperty: [String] = []

    @Option(name: .customLong("producer.config"), help: "Producer properties file (--producer-property wins).")
    var producerConfig: String?

    @Option(name: .customLong("line-reader"), help: "Only Kafka's default LineMessageReader is supported.")
    var lineReader: String?

    func validate() throws {
        guard bootstrapServer != nil || brokerList != nil else {
            throw ValidationError("Missing required argument \"[bootstrap-server]\"")
        }
        if let lineReader, !lineReader.hasSuffix("LineMessageReader") {
            throw ValidationError("--line-reader \(lineReader) is not supported; samsa reads lines with Kafka's LineMessageReader rules")
        }
        if let codec = compressionCodec, CompressionCodec(name: codec) == nil {
            throw ValidationError("unknown compression codec '\(codec)' (none, gzip, snappy, lz4, zstd)")
        }
    }

    func run() async throws {
        Terminal.ignoreSigpipe()
        try await reportingErrors {
            var readerProperties = try readerConfig.map(loadPropertiesFile) ?? [:]
            readerProperties.merge(try parseProperties(property, option: "--property")) { $1 }
            let reader: LineMessageReader
            do throws(LineMessageReader.ParseError) { reader = try LineMessageReader(properties: readerProperties) } catch { throw CommandFailure(error.message) }

            var properties = try producerConfig.map(loadPropertiesFile) ?? [:]
            properties.merge(try parseProperties(producerProperty, option: "--producer-property")) { $1 }
            var config = ProducerConfig(client: try ClientConfig(bootstrap: bootstrapServer ?? brokerList ?? "", clientId: "console-producer"))
            config.compression = CompressionCodec(name: compressionCodec ?? "none") ?? .none
            config.batchSizeBytes = maxPartitionMemoryBytes ?? batchSize
            config.retries = messageSendMaxRetries
            config.retryBackoffMs = retryBackoffMs
            config.lingerMs = timeout
            config.client.requestTimeoutMs = requestTimeoutMs
            config.client.metadataMaxAgeMs = metadataExpiryMs
            config.maxBlockMs = maxBlockMs
            config.bufferMemoryBytes = maxMemoryBytes
            try config.apply(["acks": requestRequiredAcks])
            warnUnused(try config.apply(properties), what: "producer")
            try await produce(config: config, reader: reader)
        }
    }

    private func produce(config: ProducerConfig, reader: LineMessageReader) async throws {
        let failures = Mutex<(count: Int, first: ClientError?)>((0, nil))
        let producer = Producer(config: config) { report in
            guard let error = report.error else { return }
            let first = failures.withLock { state in
                state.count += 1
                if state.first == nil { state.first = error; return true }
                return false
            }
            if first {
                Terminal.write("Error when sending message to topic \(report.topic): \(error)\n", to: STDERR_FILENO)
            }
        }
        let prompt = Terminal.stdinIsTTY && Terminal.stdoutIsTTY
        let progress = ProgressLine(enabled: Terminal.stderrIsTTY && !Terminal.stdinIsTTY)
        let lines = StdinLines()
        var lineNumber = 0
        var sent: Int64 = 0
        do {
            while true {
                if prompt { Terminal.write(">", to: STDOUT_FILENO) }
                guard let line = await lines.next() else { break }
                lineNumber += 1
                let record: LineMessageReader.ParsedRecord
                do throws(LineMessageReader.ParseError) { record = try reader.parse(line, lineNumber: lineNumber) } catch { throw CommandFailure(error.message) }
                if sync {
                    _ = try await producer.sendAndWait(topic: topic, key: record.key, value: record.value, headers: record.headers)
                } else {
                    try await producer.send(topic: topic, key: record.key, value: record.value, headers: record.headers)
                }
                sent += 1
                progress.update("\(NumberFormat.grouped(sent)) records sent")
            }
        } catch {
            progress.clear()
            await producer.close(flush: true)
            throw error
        }
        await producer.close(flush: true)
        progress.clear()
        let (count, first) = failures.withLock { ($0.count, $0.first) }
        if count > 0 {
            throw CommandFailure("\(count) of \(sent) records were not delivered (first error: \(first.map { "\($0)" } ?? "?"))")
        }
    }
}
