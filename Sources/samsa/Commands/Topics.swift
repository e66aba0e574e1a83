import ArgumentParser
import SamsaClient

/// `samsa topics`: Kafka's `kafka-topics.sh`, with its flags and output.
struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create, delete, describe, or change a topic.",
        discussion: """
            Exactly one action: --create, --list, --describe, --alter or --delete. Output matches Kafka's tool.

            Examples:
              samsa topics --create --topic quickstart-events --bootstrap-server 127.0.0.1:9092
              samsa topics --create --topic orders --partitions 6 --config retention.ms=86400000 --bootstrap-server 127.0.0.1:9092
              samsa topics --describe --topic quickstart-events --bootstrap-server 127.0.0.1:9092
              samsa topics --list --bootstrap-server 127.0.0.1:9092
              samsa topics --alter --topic orders --partitions 12 --bootstrap-server 127.0.0.1:9092
              samsa topics --delete --topic orders --bootstrap-server 127.0.0.1:9092
            """)

    @Option(name: .customLong("bootstrap-server"), help: "REQUIRED: The Kafka server to connect to (host:port[,host:port]).")
    var bootstrapServer: String?

    @Option(name: .customLong("command-config"), help: "Property file containing configs to be passed to the admin client.")
    var commandConfig: String?

    @Flag(name: .customLong("create"), help: "Create a new topic.") var create = false
    @Flag(name: .customLong("list"), help: "List all available topics.") var list = false
    @Flag(name: .customLong("describe"), help: "List details for the given topics.") var describe = false
    @Flag(name: .customLong("alter"), help: "Alter the number of partitions of a topic.") var alter = false
    @Flag(name: .customLong("delete"), help: "Delete a topic.") var delete = false

    @Option(name: .customLong("topic"), help: "The topic to create, alter, describe or delete. Except with --create, a regular expression (matching whole names).")
    var topic: String?

    @Option(name: .customLong("topic-id"), help: "The topic id to describe.")
    var topicId: String?

    @Option(name: .customLong("partitions"), help: "The number of partitions for the topic being created or altered.")
    var partitions: Int32?

    @Option(name: .customLong("replication-factor"), help: "The replication factor for each partition (1 on a single broker).")
    var replicationFactor: Int16?

    @Option(name: .customLong("config"), help: "A topic configuration override for the topic being created (name=value; repeatable).")
    var config: [String] = []

    @Option(name: .customLong("replica-assignment"), help: "Manual partition-to-broker assignments (not supported).")
    var replicaAssignment: String?

    @Flag(name: .customLong("if-exists"), help: "With --alter, --delete or --describe: act only if the topic exists.")
    var ifExists = false

    @Flag(name: .customLong("if-not-exists"), help: "With --create: create only if the topic does not exist.")
    var ifNotExists = false

    @Flag(name: .customLong("exclude-internal"), help: "Exclude internal topics when listing or describing.")
    var excludeInternal = false

    @Flag(name: .customLong("under-replicated-partitions"), help: "With --describe: only partitions whose ISR is smaller than their replica set.")
    var underReplicated = false

    @Flag(name: .customLong("unavailable-partitions"), help: "With --describe: only partitions without a live leader.")
    var unavailable = false

    @Flag(name: .customLong("topics-with-overrides"), help: "With --describe: only topics that override configs.")
    var topicsWithOverrides = false

    func validate() throws {
        let actions = [create, list, describe, alter, delete].filter { $0 }.count
        guard actions == 1 else {
            throw ValidationError("Command must include exactly one action: --list, --describe, --create, --alter or --delete")
        }
        guard bootstrapServer != nil else { throw ValidationError("--bootstrap-server must be specified") }
        if !list && !describe && topic == nil { throw ValidationError("Missing required argument \"[topic]\"") }
        if alter && partitions == nil { throw ValidationError("Missing required argument \"[partitions]\"") }
        if !config.isEmpty && !create {
            throw ValidationError("Option \"[config]\" can't be used with option \"[\(actionName)]\" (to alter topic configurations, use incremental alter configs)")
        }
        if partitions != nil && !(create || alter) {
            throw ValidationError("Option \"[partitions]\" can't be used with option \"[\(actionName)]\"")
        }
        if replicationFactor != nil && !create {
            throw ValidationError("Option \"[replication-factor]\" can't be used with option \"[\(actionName)]\"")
        }
        if replicaAssignment != nil { throw ValidationError("--replica-assignment is not supported by samsa") }
        if let partitions, partitions < 1 { throw ValidationError("The partitions must be greater than 0") }
        if let replicationFactor, replicationFactor < 1 {
            throw ValidationError("The replication factor must be between 1 and \(Int16.max) inclusive")
        }
    }

    private var actionName: String {
        create ? "create" : list ? "list" : describe ? "describe" : alter ? "alter" : "delete"
    }

    func run() async throws {
        try await reportingErrors(prefix: "Error while executing topic command : ") {
            try await withAdmin(
                bootstrapServer: bootstrapServer, commandConfig: commandConfig, clientId: "samsa-topics", perform)
        }
    }

    private func perform(_ admin: Admin) async throws {
        if create { return try await createTopic(admin) }
        let names = try await matchingTopics(admin)
        if list {
            print(names.joined(separator: "\n"))
        } else if describe {
            try await describeTopics(admin, names)
        } else if alter {
            for name in names { try await admin.createPartitions(topic: name, totalCount: partitions!) }
        } else if delete {
            if !names.isEmpty { try await admin.deleteTopics(names) }
        }
    }

    private func createTopic(_ admin: Admin) async throws {
        let name = topic!
        if let warning = TopicCommandFormat.collisionWarning(for: name) { print(warning) }
        let configs = try parseProperties(config, option: "--config")
        do {
            try await admin.createTopic(NewTopic(
                name: name, partitions: partitions ?? -1, replicationFactor: replicationFactor ?? -1, configs: configs))
            print("Created topic \(name).")
        } catch {
            guard case .broker(let code, _, let message) = error, code == .topicAlreadyExists else { throw error }
            if ifNotExists { return }
            throw CommandFailure(message.flatMap { $0.isEmpty ? nil : $0 } ?? "Topic '\(name)' already exists.")
        }
    }

    /// The topics the command acts on: all (for --list/--describe without --topic), or those whose whole name
    /// matches --topic as a regular expression. A named topic that matches nothing is an error unless
    /// --if-exists.
    private func matchingTopics(_ admin: Admin) async throws -> [String] {
        let all = try await admin.listTopics(includeInternal: !excludeInternal)
        if let topicId {
            let described = try await admin.describeTopics(nil, includeInternal: !excludeInternal)
            let found = described.filter { $0.topicId.description == topicId }.map(\.name)
            if found.isEmpty && !ifExists { throw CommandFailure("TopicId '\(topicId)' does not exist as expected") }
            return found
        }
        guard let topic, !topic.isEmpty else { return all }
        let found: [String]
        if all.contains(topic) {
            found = [topic]
        } else if let pattern = try? Regex(topic) {
            found = all.filter { (try? pattern.wholeMatch(in: $0)) != nil }
        } else {
            found = []
        }
        if found.isEmpty && !ifExists { throw CommandFailure("Topic '\(topic)' does not exist as expected") }
        return found
    }

    private func describeTopics(_ admin: Admin, _ names: [String]) async throws {
        guard !names.isEmpty else { return }
        let topics = try await admin.describeTopics(names)
        let live = Set(try await admin.describeCluster().brokers.keys)
        let reportPartitionsOnly = underReplicated || unavailable
        for topic in topics {
            let configs = try await admin.describeTopicConfig(topic.name)
            if !reportPartitionsOnly {
                if !topicsWithOverrides || configs.contains(where: { !$0.isDefault }) {
                    print(TopicCommandFormat.topicLine(topic, configs: configs))
                }
            }
            guard !topicsWithOverrides else { continue }
            for partition in topic.partitions {
                if underReplicated && partition.isr.count >= partition.replicas.count { continue }
                if unavailable && partition.leader >= 0 && live.contains(partition.leader) { continue }
                print(TopicCommandFormat.partitionLine(topic: topic.name, partition))
            }
        }
    }
}
