import SamsaLog

/// What `kafka-consumer-groups.sh` prints (Kafka's `ConsumerGroupCommand`), column for column: its `printf`
/// formats are reproduced here, including their leading newlines (`%n` before every line) and Kafka's quirks
/// (the `--state` table's first column is as wide as the coordinator's; `--members --verbose` lists partition
/// numbers without topic names).
///
/// ```
///
/// GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
/// billing         orders          0          42              50              8               -               -               -
/// ```
public enum ConsumerGroupCommandFormat {
    /// Kafka prints "-" for a value it does not have.
    public static let missing = "-"

    /// One row of `--describe [--offsets]`.
    public struct OffsetRow: Sendable, Equatable {
        public var group: String
        public var topic: String?
        public var partition: Int32?
        public var currentOffset: Int64?
        public var logEndOffset: Int64?
        public var consumerId: String?
        public var host: String?
        public var clientId: String?

        public init(
            group: String, topic: String?, partition: Int32?, currentOffset: Int64?, logEndOffset: Int64?,
            consumerId: String?, host: String?, clientId: String?
        ) {
            self.group = group
            self.topic = topic
            self.partition = partition
            self.currentOffset = currentOffset
            self.logEndOffset = logEndOffset
            self.consumerId = consumerId
            self.host = host
            self.clientId = clientId
        }

        /// Kafka's `getLag`: end minus committed, when both are known (a committed -1 is no offset).
        public var lag: Int64? {
            guard let currentOffset, currentOffset != -1, let logEndOffset else { return nil }
            return logEndOffset - currentOffset
        }
    }

    /// Java's `%-Ns`: left-aligned, padded with spaces to at least `width`.
    static func left(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : text + String(repeating: " ", count: width - count)
    }

    /// The `--describe --offsets` table: a leading empty line, the header, one line per row, a final newline.
    public static func offsetsTable(_ rows: [OffsetRow]) -> String {
        var group = 15, topic = 15, consumer = 15, host = 15
        for row in rows {
            group = max(group, row.group.count)
            topic = max(topic, (row.topic ?? missing).count)
            consumer = max(consumer, (row.consumerId ?? missing).count)
            host = max(host, (row.host ?? missing).count)
        }
        func line(_ c: [String]) -> String {
            "\n" + left(c[0], group) + " " + left(c[1], topic) + " " + left(c[2], 10) + " " + left(c[3], 15) + " "
                + left(c[4], 15) + " " + left(c[5], 15) + " " + left(c[6], consumer) + " " + left(c[7], host) + " " + c[8]
        }
        var out = line(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"])
        for row in rows {
            out += line([
                row.group, row.topic ?? missing, row.partition.map(String.init) ?? missing,
                row.currentOffset.map(String.init) ?? missing, row.logEndOffset.map(String.init) ?? missing,
                row.lag.map(String.init) ?? missing, row.consumerId ?? missing, row.host ?? missing, row.clientId ?? missing,
            ])
        }
        return out + "\n"
    }

    /// The `--describe --members [--verbose]` table. The header is printed even for a group without members.
    public static func membersTable(group: String, members: [GroupMemberDescription], verbose: Bool) -> String {
        var groupWidth = 15, consumer = 15, instance = 17, host = 15, client = 15
        var withInstanceIds = false
        for member in members {
            groupWidth = max(groupWidth, group.count)
            consumer = max(consumer, member.memberId.count)
            instance = max(instance, (member.groupInstanceId ?? "").count)
            host = max(host, member.host.count)
            client = max(client, member.clientId.count)
            withInstanceIds = withInstanceIds || !(member.groupInstanceId ?? "").isEmpty
        }
        func line(_ group: String, _ id: String, _ instanceId: String, _ host_: String, _ client_: String, _ count: String) -> String {
            var s = left(group, groupWidth) + " " + left(id, consumer) + " "
            if withInstanceIds { s += left(instanceId, instance) + " " }
            return s + left(host_, host) + " " + left(client_, client) + " " + left(count, 15) + " "
        }
        var out = "\n" + line("GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
        if verbose { out += "ASSIGNMENT" }
        out += "\n"
        for member in members {
            out += line(group, member.memberId, member.groupInstanceId ?? "", member.host, member.clientId, String(member.assignment.count))
            if verbose { out += assignmentText(member.assignment) }
            out += "\n"
        }
        return out
    }

    /// Kafka's verbose ASSIGNMENT column: per topic, the partition numbers sorted as text, `(0,1), (2)`.
    static func assignmentText(_ partitions: [TopicPartition]) -> String {
        guard !partitions.isEmpty else { return missing }
        let byTopic = Dictionary(grouping: partitions, by: \.topic)
        return byTopic.values.map { tps in
            "(" + tps.map { String($0.partition) }.sorted().joined(separator: ",") + ")"
        }.sorted().joined(separator: ", ")
    }

    /// The `--describe --state` table.
    public static func stateTable(_ group: ConsumerGroupDescription) -> String {
        let coordinator = "\(group.coordinator.address.host):\(group.coordinator.address.port)  (\(group.coordinator.nodeId))"
        let width = max(25, coordinator.count)
        func line(_ c: [String]) -> String {
            "\n" + left(c[0], width) + " " + left(c[1], 25) + " " + left(c[2], 20) + " " + left(c[3], 15) + " " + c[4]
        }
        return line(["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"])
            + line([group.groupId, coordinator, group.assignor, group.state, String(group.members.count)]) + "\n"
    }

    /// `--list --state`: `GROUP` and `STATE` columns.
    public static func listWithStates(_ groups: [ConsumerGroupListing]) -> String {
        let width = (groups.map { max(15, $0.groupId.count) }.max() ?? 15) + 10
        var out = left("GROUP", width) + " " + left("STATE", 20) + "\n"
        for group in groups { out += left(group.groupId, width) + " " + left(group.state ?? "Unknown", 20) + "\n" }
        return out
    }

    /// The `--reset-offsets` table: a leading empty line, the header (only when there are rows), the rows, a
    /// final newline.
    public static func resetTable(group: String, offsets: [(TopicPartition, Int64)]) -> String {
        func line(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
            "\n" + left(a, 30) + " " + left(b, 30) + " " + left(c, 10) + " " + left(d, 15)
        }
        var out = offsets.isEmpty ? "" : line("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
        for (tp, offset) in offsets { out += line(group, tp.topic, String(tp.partition), String(offset)) }
        return out + "\n"
    }

    /// `--delete`'s success line (Kafka quotes the whole list once: `('a, b')`).
    public static func deleted(_ groups: [String]) -> String {
        "Deletion of requested consumer groups ('\(groups.joined(separator: ", "))') was successful."
    }

    /// What Kafka prints (on standard error) about a group's state before its table; nil for Stable.
    public static func stateNotice(group: String, state: String) -> String? {
        switch state {
        case "Empty": "\nConsumer group '\(group)' has no active members."
        case "PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling":
            "\nWarning: Consumer group '\(group)' is rebalancing."
        default: nil
        }
    }
}
