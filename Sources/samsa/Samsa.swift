import ArgumentParser

/// `samsa`: the commands a Kafka user already knows, with Kafka's flag names. Each command lives in
/// Commands/<Name>.swift and is a thin layer over one library call.
@main
struct Samsa: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samsa",
        abstract: "Samsa: a Kafka-compatible commit log.",
        discussion: """
            Start a broker with `samsa server-start [server.properties]`, then use the usual Kafka tools'
            commands against it (`samsa topics --bootstrap-server 127.0.0.1:9092 --list`).
            """,
        subcommands: commands
    )

    /// Every subcommand, one per line (kept sorted).
    static let commands: [any ParsableCommand.Type] = [
        BenchCommand.self,
        ConsoleConsumer.self,
        ConsoleProducer.self,
        ConsumerGroups.self,
        ConsumerPerfTest.self,
        DumpLogCommand.self,
        ProducerPerfTest.self,
        ReplayCommand.self,
        ServerStart.self,
        Topics.self,
    ]
}
