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
                    BrokerReplay.run(source, writer: writer, maxInFlight: maxInFlight, progress: interactive)
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

/// One source partition produced into a broker: the walk runs on a thread of its own (the engine's walk is
/// synchronous), handing each stored batch to a `BatchWriter` and waiting only when `maxInFlight` answers are
/// outstanding.
enum BrokerReplay {
    struct Report: Sendable {
        var source: String
        var destination: TopicPartition
        var batches = 0
        var records = 0
        var bytes: Int64 = 0
        var controlBatchesSkipped = 0
        /// The source's first and last offsets produced, and the offsets the broker gave them.
        var sourceFirstOffset: Int64?
        var sourceLastOffset: Int64?
        var brokerFirstOffset: Int64?
        var brokerLastOffset: Int64?
        var damage: String?
        var seconds = 0.0
        var error: String?

        var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }
        var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0 }

        func lines(bootstrap: String) -> [String] {
            var lines: [String] = []
            lines.append("Replayed \(source) into \(destination) at \(bootstrap): \(batches) batches, \(records) records, \(bytes) bytes in "
                + "\(EngineTerminal.fixed(seconds, 3)) s: \(EngineTerminal.grouped(recordsPerSecond)) records/s, "
                + "\(EngineTerminal.fixed(megabytesPerSecond, 2)) MB/s")
            if let first = sourceFirstOffset, let last = sourceLastOffset, let brokerFirst = brokerFirstOffset, let brokerLast = brokerLastOffset {
                let same = first == brokerFirst && last == brokerLast && controlBatchesSkipped == 0
                lines.append("  source offsets \(first)...\(last) are offsets \(brokerFirst)...\(brokerLast) in \(destination)"
                    + (same ? " (unchanged)" : ""))
            }
            if controlBatchesSkipped > 0 {
                lines.append("  skipped \(controlBatchesSkipped) control batches (transaction markers): brokers accept them only from a transaction coordinator")
            }
            if let damage { lines.append("  source damaged: \(damage)") }
            if let error { lines.append("  stopped: \(error)") }
            return lines
        }
    }

    static func run(_ source: Replay.SourcePartition, writer: BatchWriter, maxInFlight: Int, progress showProgress: Bool) -> Report {
        var report = Report(source: source.directory, destination: writer.topicPartition)
        var pending = CircularBuffer<(future: EventLoopFuture<BatchAck>, baseOffset: Int64, lastOffset: Int64)>()
        let allocator = ByteBufferAllocator()
        let bar = EngineProgressBar(enabled: showProgress)
        let started = ContinuousClock.now

        func settle(_ entry: (future: EventLoopFuture<BatchAck>, baseOffset: Int64, lastOffset: Int64)) throws {
            let ack = try entry.future.wait()
            if report.brokerFirstOffset == nil { report.brokerFirstOffset = ack.baseOffset }
            report.brokerLastOffset = ack.baseOffset + (entry.lastOffset - entry.baseOffset)
        }

        do {
            let walk = try Replay.replay(source, chunkBytes: 1 << 20, progress: { p in
                let rate = p.seconds > 0 ? Double(p.records) / p.seconds : 0
                bar.update(
                    fraction: p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal) : 1,
                    detail: "\(p.partition)  \(EngineTerminal.grouped(Double(p.records))) records  \(EngineTerminal.grouped(rate)) records/s")
            }) { chunk in
                var position = 0
                while position < chunk.bytes.count {
                    let rest = UnsafeRawBufferPointer(rebasing: chunk.bytes[position...])
                    let size = try RecordBatch.size(ofBatchAt: rest, maxBatchSize: rest.count)
                    let bytes = UnsafeRawBufferPointer(rebasing: rest[0..<size])
                    position += size
                    let batch = RecordBatch(unchecked: bytes)
                    if batch.isControl {
                        report.controlBatchesSkipped += 1
                        continue
                    }
                    var buffer = allocator.buffer(capacity: size)
                    buffer.writeBytes(bytes)
                    pending.append((writer.write(buffer), batch.baseOffset, batch.lastOffset))
                    report.batches += 1
                    report.records += Int(batch.recordCount)
                    report.bytes += Int64(size)
                    if report.sourceFirstOffset == nil { report.sourceFirstOffset = batch.baseOffset }
                    report.sourceLastOffset = batch.lastOffset
                    if pending.count >= maxInFlight { try settle(pending.removeFirst()) }
                }
            }
            while let entry = pending.popFirst() { try settle(entry) }
            report.damage = walk.damage?.description
        } catch {
            // Wait for what is still in flight, so the report says where the broker stopped.
            while let entry = pending.popFirst() { try? settle(entry) }
            report.error = "\(error)"
        }
        bar.finish()
        let elapsed = ContinuousClock.now - started
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return report
    }

    static func json(_ reports: [Report], bootstrap: String, error: String?) -> String {
        func string(_ s: String) -> String {
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        func number(_ n: Int64?) -> String { n.map(String.init) ?? "null" }
        let records = reports.reduce(0) { $0 + $1.records }
        let bytes = reports.reduce(Int64(0)) { $0 + $1.bytes }
        let seconds = reports.reduce(0.0) { $0 + $1.seconds }
        var o = "{\"bootstrap\":\(string(bootstrap)),\"records\":\(records),\"bytes\":\(bytes)"
        o += ",\"seconds\":\(EngineTerminal.fixed(seconds, 6))"
        o += ",\"recordsPerSecond\":\(EngineTerminal.fixed(seconds > 0 ? Double(records) / seconds : 0, 0))"
        o += ",\"mbPerSecond\":\(EngineTerminal.fixed(seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0, 3))"
        o += ",\"error\":\(error.map(string) ?? "null"),\"partitions\":["
        o += reports.map { r in
            "{\"source\":\(string(r.source)),\"topic\":\(string(r.destination.topic)),\"partition\":\(r.destination.partition)"
                + ",\"batches\":\(r.batches),\"records\":\(r.records),\"bytes\":\(r.bytes)"
                + ",\"controlBatchesSkipped\":\(r.controlBatchesSkipped)"
                + ",\"sourceFirstOffset\":\(number(r.sourceFirstOffset)),\"sourceLastOffset\":\(number(r.sourceLastOffset))"
                + ",\"brokerFirstOffset\":\(number(r.brokerFirstOffset)),\"brokerLastOffset\":\(number(r.brokerLastOffset))"
                + ",\"seconds\":\(EngineTerminal.fixed(r.seconds, 6))"
                + ",\"recordsPerSecond\":\(EngineTerminal.fixed(r.recordsPerSecond, 0)),\"mbPerSecond\":\(EngineTerminal.fixed(r.megabytesPerSecond, 3))"
                + ",\"damage\":\(r.damage.map(string) ?? "null"),\"error\":\(r.error.map(string) ?? "null")}"
        }.joined(separator: ",")
        return o + "]}"
    }
}
