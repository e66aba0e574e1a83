import Foundation
import NIOCore
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct MetadataTests {
    @Test func describesTheBrokerAsLeaderOfEveryPartition() throws {
        let broker = try TestBroker(["node.id": "7", "advertised.listeners": "PLAINTEXT://kafka.example:19092"])
        let connection = try broker.connect()
        try connection.createTopic("orders", partitions: 3)
        let response = try connection.roundTrip(MetadataRequest(topics: nil), version: 12)
        #expect(response.brokers == [.init(nodeId: 7, host: "kafka.example", port: 19092, rack: nil)])
        #expect(response.controllerId == 7)
        #expect(response.clusterId == broker.broker.clusterId)
        let topic = try #require(response.topics.first)
        #expect(topic.name == "orders")
        #expect(topic.topicId == broker.broker.topics.topic("orders")?.id)
        #expect(topic.partitions.map(\.partitionIndex) == [0, 1, 2])
        #expect(topic.partitions.allSatisfy { $0.leaderId == 7 && $0.replicaNodes == [7] && $0.isrNodes == [7] })
    }

    @Test func autoCreatesTopicsItIsAskedAbout() throws {
        let broker = try TestBroker(["num.partitions": "4"])
        let connection = try broker.connect()
        let response = try connection.roundTrip(MetadataRequest(topics: [.init(name: "fresh")], allowAutoTopicCreation: true), version: 12)
        #expect(response.topics.first?.errorCode == ErrorCode.none)
        #expect(response.topics.first?.partitions.count == 4)
        #expect(broker.broker.logManager.log(TopicPartition("fresh", 3)) != nil)
    }

    @Test func doesNotCreateWhenTheRequestOrTheBrokerSaysNo() throws {
        let broker = try TestBroker(["auto.create.topics.enable": "false"])
        let connection = try broker.connect()
        let refusedByBroker = try connection.roundTrip(MetadataRequest(topics: [.init(name: "x")], allowAutoTopicCreation: true), version: 12)
        #expect(refusedByBroker.topics.first?.errorCode == .unknownTopicOrPartition)
        let other = try TestBroker()
        let client = try other.connect()
        let refusedByClient = try client.roundTrip(MetadataRequest(topics: [.init(name: "y")], allowAutoTopicCreation: false), version: 12)
        #expect(refusedByClient.topics.first?.errorCode == .unknownTopicOrPartition)
        #expect(other.broker.topics.topic("y") == nil)
    }

    @Test func invalidTopicNameIsInvalidTopicException() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let response = try connection.roundTrip(MetadataRequest(topics: [.init(name: "bad name!")]), version: 12)
        #expect(response.topics.first?.errorCode == .invalidTopicException)
    }

    @Test func lookUpByTopicId() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("byid")
        let id = try #require(broker.broker.topics.topic("byid")?.id)
        let found = try connection.roundTrip(MetadataRequest(topics: [.init(topicId: id, name: nil)]), version: 12)
        #expect(found.topics.first?.name == "byid")
        let missing = try connection.roundTrip(MetadataRequest(topics: [.init(topicId: .random(), name: nil)]), version: 12)
        #expect(missing.topics.first?.errorCode == .unknownTopicId)
    }

    @Test func v0EmptyListMeansEveryTopic() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("a")
        try connection.createTopic("b")
        let response = try connection.roundTrip(MetadataRequest(topics: []), version: 0)
        #expect(response.topics.compactMap(\.name) == ["a", "b"])
        let none = try connection.roundTrip(MetadataRequest(topics: []), version: 1)
        #expect(none.topics.isEmpty)
    }
}

@Suite struct TopicAdminTests {
    @Test func createTopicAppliesItsConfigsToTheLogs() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let response = try connection.roundTrip(
            CreateTopicsRequest.one("cfg", partitions: 2, configs: ["retention.ms": "12345", "segment.bytes": "1048576"]), version: 7)
        let result = try #require(response.topics.first)
        #expect(result.errorCode == .none)
        #expect(result.numPartitions == 2)
        #expect(result.replicationFactor == 1)
        #expect(result.topicId == broker.broker.topics.topic("cfg")?.id)
        #expect(result.configs?.first { $0.name == "retention.ms" }?.value == "12345")
        #expect(result.configs?.first { $0.name == "retention.ms" }?.configSource == 1)
        let log = try #require(broker.broker.logManager.log(TopicPartition("cfg", 1)))
        #expect(log.config.retentionMs == 12345)
        #expect(log.config.segmentBytes == 1_048_576)
        let metadata = try String(contentsOfFile: log.directory + "/partition.metadata", encoding: .utf8)
        #expect(metadata == "version: 0\ntopic_id: \(result.topicId)\n")
    }

    @Test func refusalsUseKafkasErrorCodes() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("taken")
        func code(_ request: CreateTopicsRequest) throws -> (ErrorCode, String?) {
            let result = try #require(try connection.roundTrip(request, version: 7).topics.first)
            return (result.errorCode, result.errorMessage)
        }
        #expect(try code(.one("taken")).0 == .topicAlreadyExists)
        #expect(try code(.one("no/slash")).0 == .invalidTopicException)
        #expect(try code(.one("rf", replicationFactor: 3)).0 == .invalidReplicationFactor)
        #expect(try code(.one("zero", partitions: 0)).0 == .invalidPartitions)
        let badValue = try code(.one("badcfg", configs: ["retention.ms": "soon"]))
        #expect(badValue.0 == .invalidConfig)
        #expect(badValue.1?.contains("retention.ms") == true)
        #expect(try code(.one("unknowncfg", configs: ["no.such.key": "1"])).0 == .invalidConfig)
        #expect(try code(.one("nullcfg", configs: ["retention.ms": nil])).0 == .invalidConfig)
        #expect(try code(.one("taken.x")).0 == .none)
        #expect(try code(.one("taken_x")).0 == .invalidTopicException)
        #expect(broker.broker.topics.all.keys.sorted() == ["taken", "taken.x"])
    }

    @Test func defaultsComeFromTheBrokerConfig() throws {
        let broker = try TestBroker(["num.partitions": "3"])
        let connection = try broker.connect()
        let response = try connection.roundTrip(CreateTopicsRequest.one("d", partitions: -1, replicationFactor: -1), version: 7)
        #expect(response.topics.first?.numPartitions == 3)
    }

    @Test func validateOnlyCreatesNothing() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let response = try connection.roundTrip(CreateTopicsRequest.one("dry", partitions: 5, validateOnly: true), version: 7)
        #expect(response.topics.first?.errorCode == ErrorCode.none)
        #expect(response.topics.first?.numPartitions == 5)
        #expect(broker.broker.topics.topic("dry") == nil)
        #expect(!FileManager.default.fileExists(atPath: broker.dataPath + "/dry-0"))
    }

    @Test func deleteTopicRemovesItsLogs() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("gone", partitions: 2)
        _ = try connection.produce("gone", Batches.make(["x"]))
        let response = try connection.roundTrip(DeleteTopicsRequest(topicNames: ["gone", "never"], timeoutMs: 1000), version: 5)
        #expect(response.responses.map(\.errorCode) == [.none, .unknownTopicOrPartition])
        #expect(broker.broker.topics.topic("gone") == nil)
        #expect(broker.broker.logManager.log(TopicPartition("gone", 0)) == nil)
        let left = try FileManager.default.contentsOfDirectory(atPath: broker.dataPath).filter { $0.hasPrefix("gone") }
        #expect(left.isEmpty)
    }

    @Test func deleteTopicByIdInV6() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("byid")
        let id = try #require(broker.broker.topics.topic("byid")?.id)
        let response = try connection.roundTrip(DeleteTopicsRequest(topics: [.init(name: nil, topicId: id)], timeoutMs: 1000), version: 6)
        #expect(response.responses.first?.errorCode == ErrorCode.none)
        #expect(response.responses.first?.name == "byid")
        let again = try connection.roundTrip(DeleteTopicsRequest(topics: [.init(name: nil, topicId: id)], timeoutMs: 1000), version: 6)
        #expect(again.responses.first?.errorCode == .unknownTopicId)
    }

    @Test func deletionCanBeDisabled() throws {
        let broker = try TestBroker(["delete.topic.enable": "false"])
        let connection = try broker.connect()
        try connection.createTopic("kept")
        let response = try connection.roundTrip(DeleteTopicsRequest(topicNames: ["kept"], timeoutMs: 1000), version: 5)
        #expect(response.responses.first?.errorCode == .topicDeletionDisabled)
    }

    @Test func createPartitionsGrowsButNeverShrinks() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("grow", partitions: 2)
        let grown = try connection.roundTrip(CreatePartitionsRequest(topics: [.init(name: "grow", count: 5, assignments: nil)], timeoutMs: 1000, validateOnly: false), version: 3)
        #expect(grown.results.first?.errorCode == ErrorCode.none)
        #expect(broker.broker.topics.topic("grow")?.partitionCount == 5)
        #expect(broker.broker.logManager.log(TopicPartition("grow", 4)) != nil)
        let shrink = try connection.roundTrip(CreatePartitionsRequest(topics: [.init(name: "grow", count: 3, assignments: nil)], timeoutMs: 1000, validateOnly: false), version: 3)
        #expect(shrink.results.first?.errorCode == .invalidPartitions)
        let unknown = try connection.roundTrip(CreatePartitionsRequest(topics: [.init(name: "nope", count: 3, assignments: nil)], timeoutMs: 1000, validateOnly: false), version: 3)
        #expect(unknown.results.first?.errorCode == .unknownTopicOrPartition)
        let dry = try connection.roundTrip(CreatePartitionsRequest(topics: [.init(name: "grow", count: 9, assignments: nil)], timeoutMs: 1000, validateOnly: true), version: 3)
        #expect(dry.results.first?.errorCode == ErrorCode.none)
        #expect(broker.broker.topics.topic("grow")?.partitionCount == 5)
    }
}
