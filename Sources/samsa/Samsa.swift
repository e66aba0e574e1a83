import ArgumentParser
import SamsaLog

@main
struct Samsa: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Samsa: a Kafka-compatible commit log.")
}
