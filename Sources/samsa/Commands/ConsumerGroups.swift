import ArgumentParser
import SamsaClient
import SamsaLog

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `samsa consumer-groups`: Kafka's `kafka-consumer-groups.sh`, with its flags and output.
struct ConsumerGroups: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer-groups",
        abstract: "List, describe, delete consumer groups, or reset their offsets.",
        discussion: """
            Exactly one action: --list, --describe, --delete or --reset-offsets. Output matches Kafka's tool.
            --describe shows each partition's committed offset, log end offset and lag (--offsets, the default),
            the members (--members [--verbose]) or the group's state (--state). --reset-offsets needs a scope
            (--topic T[:P,...] or --all-topics) and a scenario (--to-earliest, --to-latest, --to-offset N,
            --shift-by N, --to-current); it only prints the plan unless --execute is given, and only changes a
            group without active members.

            Examples:
              samsa consumer-groups --bootstrap-server 127.0.0.1:9092 --list
              samsa consumer-groups --bootstrap-server 127.0.0.1:9092 --describe --group billing
              samsa consumer-groups --bootstrap-server 127.0.0.1:9092 --describe --group billing --members --verbose
              samsa consumer-groups --bootstrap-server 127.0.0.1:9092 --reset-offsets --group billing --topic orders --to-earliest --execute
              samsa consumer-groups --bootstrap-server 127.0.0.1:9092 --delete --group billing
            """)

    @Option(name: .customLong("bootstrap-server"), help: "REQUIRED: The server(s) to connect to.")
    var bootstrapServer: String?

    @Option(name: .customLong("command-config"), help: "Property file containing configs to be passed to the admin client.")
    var commandConfig: String?

    @Flag(name: .customLong("list"), help: "List all consumer groups.") var list = false
    @Flag(name: .customLong("describe"), help: "Describe consumer group and list offset lag (number of messages not yet processed) related to given group.") var describe = false
    @Flag(name: .customLong("delete"), help: "Pass in groups to delete topic partition offsets and ownership information over the entire consumer group.") var delete = false
    @Flag(name: .customLong("reset-offsets"), help: "Reset offsets of consumer group (one group at a time; its members must be inactive).") var resetOffsets = false

    @Option(name: .customLong("group"), help: "The consumer group we wish to act on (repeatable).")
    var group: [String] = []

    @Flag(name: .customLong("all-groups"), help: "Apply to all consumer groups.") var allGroups = false

    @Option(name: .customLong("topic"), help: "With --reset-offsets: a topic, or topic:partition,partition (repeatable).")
    var topic: [String] = []

    @Flag(name: .customLong("all-topics"), help: "Consider all topics assigned to a group in the reset-offsets process.") var allTopics = false

    @Flag(name: .customLong("to-earliest"), help: "Reset offsets to earliest offset.") var toEarliest = false
    @Flag(name: .customLong("to-latest"), help: "Reset offsets to latest offset.") var toLatest = false
    @Flag(name: .customLong("to-current"), help: "Reset offsets to current offset.") var toCurrent = false
    @Option(name: .customLong("to-offset"), help: "Reset offsets to a specific offset.") var toOffset: Int64?
    @Option(name: .customLong("shift-by"), parsing: .unconditional, help: "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative.") var shiftBy: Int64?

    @Flag(name: .customLong("execute"), help: "Execute operation. Supported operations: reset-offsets.") var execute = false
    @Flag(name: .customLong("dry-run"), help: "Only show results without executing changes on Consumer Groups. Supported operations: reset-offsets.") var dryRun = false

    @Flag(name: .customLong("members"), help: "Describe members of the group.") var members = false
    @Flag(name: .customLong("verbose"), help: "With --members: the partitions assigned to each member.") var verbose = false
    @Flag(name: .customLong("offsets"), help: "Describe the group and list all topic partitions in the group along with their offset lag (the default).") var offsets = false
    @Flag(name: .customLong("state"), help: "With --describe: the state of the group; with --list: each group's state.") var state = false

    @Option(name: .customLong("timeout"), help: "The timeout in ms for some use cases (describing a group that is rebalancing).")
    var timeout: Int32 = 5_000

    private var scenarios: [String] {
        [toEarliest ? "--to-earliest" : nil, toLatest ? "--to-latest" : nil, toCurrent ? "--to-current" : nil,
         toOffset != nil ? "--to-offset" : nil, shiftBy != nil ? "--shift-by" : nil].compactMap { $0 }
    }

    func validate() throws {
        guard [list, describe, delete, resetOffsets].filter({ $0 }).count == 1 else {
            throw ValidationError("Command must include exactly one action: --list, --describe, --delete, --reset-offsets")
        }
        guard bootstrapServer != nil else { throw ValidationError("Missing required argument \"[bootstrap-server]\"") }
        if !group.isEmpty && allGroups { throw ValidationError("Option \"[group]\" can't be used with option \"[all-groups]\"") }
        let needsGroups = describe || delete || resetOffsets
        if needsGroups && group.isEmpty && !allGroups {
            let action = describe ? "describe" : delete ? "delete" : "reset-offsets"
            throw ValidationError("Option [\(action)] takes one of these options: [all-groups], [group]")
        }
        if list && (!group.isEmpty || allGroups) {
            throw ValidationError("Option \"[group]\" can't be used with option \"[list]\"")
        }
        if describe && [members, offsets, state].filter({ $0 }).count > 1 {
            throw ValidationError("Option [describe] takes at most one of these options: [members], [offsets], [state]")
        }
        if verbose && !(describe && members) { throw ValidationError("Option [verbose] is applicable only with [describe] and [members]") }
        if delete && !topic.isEmpty {
            throw ValidationError("The consumer does not support topic-specific offset deletion from a consumer group.")
        }
        if !topic.isEmpty && !resetOffsets { throw ValidationError("Option \"[topic]\" can only be used with option \"[reset-offsets]\"") }
        if resetOffsets {
            if execute && dryRun { throw ValidationError("Option [reset-offsets] only accepts one of [execute] and [dry-run]") }
            if scenarios.count != 1 {
                throw ValidationError(scenarios.isEmpty
                    ? "Option '[reset-offsets]' requires one of the following scenarios: [to-offset], [to-earliest], [to-latest], [to-current], [shift-by]"
                    : "Option '[reset-offsets]' takes only one scenario, not \(scenarios.joined(separator: " and "))")
            }
            if topic.isEmpty == !allTopics {
                throw ValidationError("One of the reset scopes should be defined: --all-topics, --topic.")
            }
        } else if !scenarios.isEmpty || execute || dryRun || allTopics {
            throw ValidationError("Options \(scenarios + (execute ? ["--execute"] : []) + (dryRun ? ["--dry-run"] : []) + (allTopics ? ["--all-topics"] : [])) only apply to --reset-offsets")
        }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        Terminal.ignoreSigpipe()
        try await reportingErrors(prefix: "Error: ") {
            try await withAdmin(
                bootstrapServer: bootstrapServer, commandConfig: commandConfig, clientId: "samsa-consumer-groups", operationTimeoutMs: timeout, perform)
        }
    }

    private func perform(_ admin: Admin) async throws {
        if list {
            let groups = try await admin.listGroups()
            if state {
                print(ConsumerGroupCommandFormat.listWithStates(groups), terminator: "")
            } else {
                for group in groups { print(group.groupId) }
            }
            return
        }
        let groupIds = allGroups ? try await admin.listGroups().map(\.groupId) : group
        if describe {
            try await describeGroups(admin, groupIds)
        } else if delete {
            try await deleteGroups(admin, groupIds)
        } else {
            try await reset(admin, groupIds)
        }
    }

    // MARK: --describe

    private func describeGroups(_ admin: Admin, _ groupIds: [String]) async throws {
        var missing: [String] = []
        for description in try await admin.describeGroups(groupIds).sorted(by: { $0.groupId < $1.groupId }) {
            let id = description.groupId
            if description.state == "Dead" {
                missing.append(id)
                continue
            }
            if members {
                notice(description)
                print(ConsumerGroupCommandFormat.membersTable(group: id, members: description.members, verbose: verbose), terminator: "")
            } else if state {
                print(ConsumerGroupCommandFormat.stateTable(description), terminator: "")
            } else {
                let rows = try await admin.groupOffsetRows(description)
                notice(description)
                if !rows.isEmpty { print(ConsumerGroupCommandFormat.offsetsTable(rows), terminator: "") }
            }
        }
        if !missing.isEmpty {
            throw CommandFailure(missing.map { "Consumer group '\($0)' does not exist." }.joined(separator: " "))
        }
    }

    /// Kafka's note on standard error about an empty or rebalancing group.
    private func notice(_ description: ConsumerGroupDescription) {
        if let text = ConsumerGroupCommandFormat.stateNotice(group: description.groupId, state: description.state) {
            Terminal.write(text + "\n", to: STDERR_FILENO)
        }
    }

    // MARK: --delete

    private func deleteGroups(_ admin: Admin, _ groupIds: [String]) async throws {
        let results = try await admin.deleteGroups(groupIds)
        let failed = groupIds.filter { results[$0] != nil && results[$0]! != nil }
        if failed.isEmpty {
            print(ConsumerGroupCommandFormat.deleted(groupIds))
            return
        }
        let reasons = failed.map { id -> String in
            let reason: String
            if case .broker(let code, _, _)? = results[id]! { reason = code.explanation } else { reason = "\(results[id]!!)" }
            return "Group '\(id)' could not be deleted due to: \(reason)"
        }
        let succeeded = groupIds.filter { !failed.contains($0) }
        var message = "Deletion of some consumer groups failed: " + reasons.joined(separator: "; ")
        if !succeeded.isEmpty { message += " (deleted: '\(succeeded.joined(separator: "', '"))')" }
        throw CommandFailure(message)
    }

    // MARK: --reset-offsets

    private func reset(_ admin: Admin, _ groupIds: [String]) async throws {
        if !execute && !dryRun {
            Terminal.write(
                "WARN: No action will be performed as the --execute option is missing. In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.\n",
                to: STDERR_FILENO)
        }
        for description in try await admin.describeGroups(groupIds) {
            let id = description.groupId
            guard description.isInactive else {
                throw CommandFailure(
                    "Assignments can only be reset if the group '\(id)' is inactive, but the current state is \(description.state).")
            }
            let planned = try await admin.planOffsetReset(group: id, scope: try resetScope(), scenario: resetScenario)
            if execute { try await admin.resetOffsets(group: id, to: planned) }
            let sorted = planned.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            print(ConsumerGroupCommandFormat.resetTable(group: id, offsets: sorted), terminator: "")
        }
    }

    private var resetScenario: OffsetResetScenario {
        if toEarliest { return .earliest }
        if toLatest { return .latest }
        if let toOffset { return .offset(toOffset) }
        if let shiftBy { return .shiftBy(shiftBy) }
        return .current
    }

    /// `--all-topics`, or the `--topic T` / `--topic T:0,2` arguments.
    private func resetScope() throws -> OffsetResetScope {
        if allTopics { return .allTopics }
        var whole: [String] = []
        var listed: [TopicPartition] = []
        for arg in topic {
            guard let colon = arg.firstIndex(of: ":") else {
                whole.append(arg)
                continue
            }
            let name = String(arg[..<colon])
            let list = arg[arg.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false)
            guard !name.isEmpty, !list.isEmpty else {
                throw ValidationError("Invalid topic arg '\(arg)', expected topic name and partitions")
            }
            for item in list {
                guard let partition = Int32(item), partition >= 0 else {
                    throw ValidationError("Invalid partition '\(item)' specified in topic arg '\(arg)'")
                }
                listed.append(TopicPartition(name, partition))
            }
        }
        return .topics(whole, partitions: listed)
    }
}
