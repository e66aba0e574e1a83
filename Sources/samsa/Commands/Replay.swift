import ArgumentParser
import Logging
import SamsaLog

/// `samsa replay`: replays a Kafka-format log into a fresh Samsa log (a thin layer over `Replay.run`).
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay every batch of a Kafka-format log into a fresh Samsa log, offsets and bytes unchanged.",
        discussion: """
            The source is a partition directory (orders-0/) or a directory holding partition directories (a data \
            directory, a fixture set). Batches are appended as they are (compressed bytes untouched, offsets and \
            timestamps kept), segment by segment. A damaged source is replayed up to the damage, and the report \
            says what was dropped and why. --verify then checks the result record by record against the source \
            (and against a fixture set's manifest.json).

            Examples:
              samsa replay fixtures/transactions --verify
              samsa replay /var/lib/kafka/orders-0 --into ./data
              samsa replay fixtures/torn-tail --verify --json
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

    func run() throws {
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
}
