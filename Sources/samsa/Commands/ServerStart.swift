import ArgumentParser
import Logging
import SamsaBroker

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `samsa server-start [server.properties] [--override key=value]...`: Kafka's kafka-server-start.sh.
struct ServerStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server-start",
        abstract: "Start a broker that speaks Kafka's protocol.",
        discussion: """
            Reads Kafka's server.properties format (node.id, listeners, advertised.listeners, log.dirs,
            num.partitions, log.retention.hours, message.max.bytes, ...). Without a file: 127.0.0.1:9092, data in
            ./data. Stops cleanly on SIGTERM or SIGINT (Ctrl-C).

              samsa server-start config/server.properties
              samsa server-start --override listeners=PLAINTEXT://127.0.0.1:9093 --override log.dirs=/tmp/samsa
            """)

    @Argument(help: "The broker's server.properties (Kafka's format).")
    var propertiesFile: String?

    @Option(name: .customLong("override"), help: ArgumentHelp("A setting that replaces the file's: key=value (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "samsa.broker")
        do {
            let config = try BrokerConfig.load(path: propertiesFile, overrides: overrides)
            for warning in config.warnings { logger.warning("\(warning)") }
            if !config.ignoredKeys.isEmpty {
                logger.info("accepted without effect: \(config.ignoredKeys.joined(separator: ", "))")
            }
            try await BrokerService.run(config: config, logger: logger)
        } catch {
            let line = Array("samsa server-start: \(error)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            throw ExitCode.failure
        }
    }
}
