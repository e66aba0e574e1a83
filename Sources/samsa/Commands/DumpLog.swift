import ArgumentParser
import SamsaLog

/// `samsa dump-log`: Kafka's `kafka-dump-log.sh` over segment files (a thin layer over `DumpLog.run`).
struct DumpLogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-log",
        abstract: "Print the batches, records and index entries of segment files, as kafka-dump-log.sh does.",
        discussion: """
            Prints the same lines as Kafka's DumpLogSegments for .log, .index, .timeindex and .txnindex files, and \
            checks each index entry against the .log next to it (mismatches are reported on stderr at the end).

            Examples:
              samsa dump-log --files data/orders-0/00000000000000000000.log --print-data-log
              samsa dump-log --files data/orders-0/00000000000000000000.index,data/orders-0/00000000000000000000.timeindex
              samsa dump-log --files data/orders-0/00000000000000000000.log --json | jq -r .value
            """
    )

    @Option(help: ArgumentHelp("REQUIRED: the comma-separated list of data and index log files to dump.", valueName: "file1,file2,..."))
    var files: String

    @Flag(name: .customLong("print-data-log"), help: "Print the records' keys and values (as UTF-8). Implies --deep-iteration.")
    var printDataLog = false

    @Flag(name: .customLong("deep-iteration"), help: "Print every record, not only the batches.")
    var deepIteration = false

    @Flag(help: "Print one JSON object per record (key and value in base64, null when null) instead of Kafka's text.")
    var json = false

    @Flag(name: .customLong("verify-index-only"), help: "Check the index files against their .log without printing their entries.")
    var verifyIndexOnly = false

    @Flag(name: .customLong("index-sanity-check"), help: "Only run the sanity check a broker runs on startup to decide whether an index is rebuilt.")
    var indexSanityCheck = false

    @Flag(name: .customLong("skip-record-metadata"), help: "Leave offsets, timestamps and sizes out of record lines.")
    var skipRecordMetadata = false

    @Option(name: .customLong("max-bytes"), help: "Read at most this many bytes of each .log file.")
    var maxBytes = Int(Int32.max)

    @Option(name: .customLong("max-message-size"), help: "The largest batch an index check reads.")
    var maxMessageSize = 5 << 20

    @Flag(help: "End with a summary line (batches, records, bytes, codecs); not part of Kafka's output.")
    var summary = false

    func validate() throws {
        guard maxBytes > 0 else { throw ValidationError("--max-bytes must be positive") }
        guard maxMessageSize > 0 else { throw ValidationError("--max-message-size must be positive") }
        guard !files.split(separator: ",").isEmpty else { throw ValidationError("--files needs at least one file") }
    }

    func run() throws {
        var options = DumpLog.Options()
        options.printDataLog = printDataLog
        options.deepIteration = deepIteration
        options.json = json
        options.verifyIndexOnly = verifyIndexOnly
        options.indexSanityCheck = indexSanityCheck
        options.skipRecordMetadata = skipRecordMetadata
        options.maxBytes = maxBytes
        options.maxMessageSize = maxMessageSize
        options.summary = summary
        let out = EngineOutput.standardOutput
        let err = EngineOutput.standardError
        let result = DumpLog.run(
            files: files.split(separator: ",").map { String($0) }, options: options,
            out: { out.line($0) },
            err: { line in
                out.flush()
                err.line(line)
                err.flush()
            })
        out.flush()
        if !result.errors.isEmpty { throw ExitCode(1) }
    }
}
