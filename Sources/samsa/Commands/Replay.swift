import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import SamsaClient
import SamsaLog

/// `samsa replay`: replays a Kafka-format log into a fresh Samsa log (a thin layer over `Replay.run`), or with
/// `--bootstrap-server` into a running broker (`Replay.replay` into a `BatchWriter`).
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay every batch of a Kafka-format log into a fresh Samsa log or into a running broker, bytes unchanged.",
        discussion: """
            The source is a partition directory (orders-0/) or a directory holding partition directories (a data \
            directory, a fixture set). Batches are appended as they are (compressed bytes untouched, offsets and \
            timestamps kept), segment by segment. A damaged source is replayed up to the damage, and the report \
            says what was dropped and why. --verify then checks the result record by record against the source \
            (and against a fixture set's manifest.json).

            With --bootstrap-server and --topic, every batch is produced into that topic of a running broker as it \
            is: one stored batch per Produce request (acks=all, a few requests in flight, in order), compressed \
            bytes, producer ids, sequences and timestamps untouched; the broker assigns the offsets (the source's \
            own when the partition is empty and the source starts at 0). Control batches (transaction markers) are \
            skipped and counted: brokers take them only from a transaction coordinator. Each source partition goes \
            to the partition of the same number, or to --partition.

            Examples:
              samsa replay fixtures/transactions --verify
              samsa replay /var/lib/kafka/orders-0 --into ./data
              samsa replay fixtures/torn-tail --verify --json
              samsa replay fixtures/gzip --bootstrap-server 127.0.0.1:9092 --topic orders-copy
            """
    )

    @Argument(help: ArgumentHelp("A partition directory, or a directory of partition directories.", valueName: "source"))
    var source: String

    @Option(help: ArgumentHelp("The data directory to replay into (default: a temporary one, removed afterwards).", valueName: "data dir"))
    var into: String?

    @Flag(help: "Check the replayed log record by record against the source (and a fixture's manifest.json).")
    var verify = false

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @Flag(help: "Keep the temporary data directory (when --into is not given).")
    var keep = false

    @Option(name: .customLong("bootstrap-server"), help: "Produce into a running broker (host:port[,...]) instead of a local log.")
    var bootstrapServer: String?

    @Option(name: .customLong("topic"), help: "With --bootstrap-server: the topic to produce into (it must exist).")
    var topic: String?

    @Option(name: .customLong("partition"), help: "With --bootstrap-server: the partition to produce into (default: the source partition's number).")
    var partition: Int32?

    @Option(name: .customLong("max-in-flight"), help: "With --bootstrap-server: Produce requests awaiting their answer at once.")
    var maxInFlight: Int = 5

    func validate() throws {
        if bootstrapServer != nil {
            guard let topic, !topic.isEmpty else { throw ValidationError("--bootstrap-server needs --topic") }
            if into != nil || verify || keep {
                throw ValidationError("--into, --verify and --keep replay into a local log; they do not go with --bootstrap-server")
            }
            if let partition, partition < 0 { throw ValidationError("--partition must not be negative") }
            if !(1...100).contains(maxInFlight) { throw ValidationError("--max-in-flight must be between 1 and 100") }
        } else if topic != nil || partition != nil {
            throw ValidationError("--topic and --partition go with --bootstrap-server")
        }
    }

    func run() async throws {
        if let bootstrapServer, let topic {
            return try await replayIntoBroker(bootstrap: bootstrapServer, topic: topic)
        }
        try replayIntoLog()
    }

    private func replayIntoLog() throws {
        var options = Replay.Options(into: into, verify: verify, keep: keep)
        options.chunkBytes = 1 << 20
        let bar = EngineProgressBar()
        let report: Replay.RunReport
        do {
            // The engine's own notes (a new partition "recovered") are noise here; warnings and errors still show.
            var logger = Logger(label: "samsa.replay")
            logger.logLevel = .warning
            report = try Replay.run(source: source, options: options, logger: logger) { progress in
                let rate = progress.seconds > 0 ? Double(progress.records) / progress.seconds : 0
                let mb = progress.seconds > 0 ? Double(progress.bytesDone) / 1_048_576 / progress.seconds : 0
                bar.update(
                    fraction: progress.bytesTotal > 0 ? Double(progress.bytesDone) / Double(progress.bytesTotal) : 1,
                    detail: "\(progress.partition)  \(EngineTerminal.grouped(Double(progress.records))) records  "
                        + "\(EngineTerminal.grouped(rate)) records/s  \(EngineTerminal.fixed(mb, 1)) MB/s")
            }
        } catch {
            bar.finish()
            throw EngineTerminal.fail("replay", error.description)
        }
        bar.finish()
        let out = EngineOutput.standardOutput
        if json {
            out.line(report.json())
        } else {
            for line in report.lines() { out.line(line) }
        }
        out.flush()
        if verify && !report.verified { throw ExitCode(1) }
    }

    // MARK: Into a broker

    private func replayIntoBroker(bootstrap: String, topic: String) async throws {
        let sources: [Replay.SourcePartition]
        do {
            sources = try Replay.sources(at: source)
        } catch {
            throw EngineTerminal.fail("replay", error.description)
        }
        if partition != nil && sources.count > 1 {
            throw EngineTerminal.fail("replay", "--partition names one partition, but \(source) holds \(sources.count) partitions")
        }
        let cluster: Cluster
        do {
            cluster = Cluster(config: try ClientConfig(bootstrap: bootstrap, clientId: "samsa-replay"))
        } catch {
            throw EngineTerminal.fail("replay", error.description)
        }
        var reports: [BrokerReplay.Report] = []
        var failure: String?
        for source in sources {
            let tp = TopicPartition(topic, partition ?? source.topicPartition?.partition ?? 0)
            do {
                let writer = try await BatchWriter.open(cluster: cluster, tp)
                let (maxInFlight, interactive) = (self.maxInFlight, EngineTerminal.isInteractive)
                let outcome = try await NIOThreadPool.singleton.runIfActive {
                    let bar = EngineProgressBar(enabled: interactive)
                    defer { bar.finish() }
                    return BrokerReplay.run(source, writer: writer, maxInFlight: maxInFlight) { p in
                        let rate = p.seconds > 0 ? Double(p.records) / p.seconds : 0
                        bar.update(
                            fraction: p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal) : 1,
                            detail: "\(p.partition)  \(EngineTerminal.grouped(Double(p.records))) records  \(EngineTerminal.grouped(rate)) records/s")
                    }
                }
                reports.append(outcome)
                if let error = outcome.error {
                    failure = error
                    break
                }
            } catch {
                failure = "\(tp): \(error)"
                break
            }
        }
        await cluster.close()
        let out = EngineOutput.standardOutput
        if json {
            out.line(BrokerReplay.json(reports, bootstrap: bootstrap, error: failure))
        } else {
            for report in reports { for line in report.lines(bootstrap: bootstrap) { out.line(line) } }
        }
        out.flush()
        if let failure { throw EngineTerminal.fail("replay", failure) }
    }
}
