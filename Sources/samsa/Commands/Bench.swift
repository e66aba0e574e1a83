import ArgumentParser
import Logging
import SamsaLog

/// `samsa bench`: the embedded throughput benchmark (a thin layer over `Bench.run`).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the storage engine in-process beside the raw disk baseline of the same run.",
        discussion: """
            Appends 16 KiB batches of 100-byte records to a log in a temporary data directory, reads them back \
            (sequentially and at random offsets) and recovers the log as after a crash; each figure is printed \
            beside plain write()/pread() of the same bytes on the same disk. The directory is removed afterwards.

            Examples:
              samsa bench
              samsa bench --dir /mnt/fast --size-mb 4096 --json > bench.json
              samsa bench --size-mb 256 --soak-gb 10      # also: resident memory while appending 10 GiB
            """
    )

    @Option(help: ArgumentHelp("Where to create the temporary data directory (default: $TMPDIR or /tmp).", valueName: "dir"))
    var dir: String?

    @Option(name: .customLong("size-mb"), help: "How many MiB to append (and read, and recover).")
    var sizeMB = 1024

    @Option(name: .customLong("record-size"), help: "Bytes per record value.")
    var recordSize = 100

    @Option(name: .customLong("batch-bytes"), help: "Bytes per batch.")
    var batchBytes = 16 << 10

    @Option(name: .customLong("soak-gb"), help: "Also append this many GiB to one log and report resident memory after each GiB.")
    var soakGB: Int?

    @Option(name: .customLong("cleaning-keys"), help: "Distinct keys in the cleaning row's compacted log.")
    var cleaningKeys = 10_000

    @Option(help: "Times each measurement and its baseline are repeated (alternating which goes first); the best of each is reported.")
    var rounds = 3

    @Flag(help: "Print the results as one JSON object.")
    var json = false

    @Option(help: ArgumentHelp("Also write the JSON results to this file.", valueName: "file"))
    var output: String?

    @Flag(help: "Keep the data directory afterwards.")
    var keep = false

    func validate() throws {
        guard sizeMB >= 1 else { throw ValidationError("--size-mb must be at least 1") }
        guard recordSize >= 1, batchBytes >= recordSize + 100 else {
            throw ValidationError("--batch-bytes must hold at least one --record-size record")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard cleaningKeys >= 1 else { throw ValidationError("--cleaning-keys must be at least 1") }
        if let soakGB, soakGB < 1 { throw ValidationError("--soak-gb must be at least 1") }
    }

    func run() throws {
        var options = Bench.Options(directory: dir, sizeMB: sizeMB, soakGB: soakGB)
        options.recordSize = recordSize
        options.batchBytes = batchBytes
        options.keep = keep
        options.rounds = rounds
        options.cleaningKeys = cleaningKeys
        let bar = EngineProgressBar()
        let report: Bench.Report
        // The engine's notes (each fresh log "recovered") would interleave with the table; warnings still show.
        var logger = Logger(label: "samsa.bench")
        logger.logLevel = .warning
        do {
            report = try Bench.run(options, logger: logger) { bar.status("samsa bench: \($0)...") }
        } catch {
            bar.finish()
            throw EngineTerminal.fail("bench", error.description)
        }
        bar.finish()
        let out = EngineOutput.standardOutput
        out.line(json ? report.json() : report.table())
        out.flush()
        if let output {
            do {
                let file = try PosixFileSystem().openFile(output, create: true)
                let bytes = Array((report.json() + "\n").utf8)
                try file.truncate(to: 0)
                try bytes.withUnsafeBytes { try file.write($0, at: 0) }
            } catch {
                throw EngineTerminal.fail("bench", "\(output): \(error)")
            }
        }
    }
}
