import NIOCore
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct ConfigApiTests {
    func describeTopic(_ connection: TestConnection, _ name: String, synonyms: Bool = false) throws -> DescribeConfigsResponse.DescribeConfigsResult {
        let response = try connection.roundTrip(
            DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: name, configurationKeys: nil)], includeSynonyms: synonyms),
            version: 4)
        return try #require(response.results.first)
    }

    @Test func describeConfigsShowsSourcesAndSynonyms() throws {
        let broker = try TestBroker(["log.retention.hours": "48"])
        let connection = try broker.connect()
        try connection.createTopic("d", configs: ["cleanup.policy": "compact"])
        let result = try describeTopic(connection, "d", synonyms: true)
        #expect(result.errorCode == .none)
        let policy = try #require(result.configs.first { $0.name == "cleanup.policy" })
        #expect(policy.value == "compact")
        #expect(policy.configSource == 1)  // DYNAMIC_TOPIC_CONFIG
        #expect(policy.configType == 7)  // LIST
        #expect(policy.synonyms.first?.name == "cleanup.policy")
        let retention = try #require(result.configs.first { $0.name == "retention.ms" })
        #expect(retention.value == "\(48 * 3_600_000)")
        #expect(retention.configSource == 4)  // STATIC_BROKER_CONFIG
        #expect(retention.synonyms.contains { $0.name == "log.retention.hours" && $0.value == "48" })
        let segment = try #require(result.configs.first { $0.name == "segment.bytes" })
        #expect(segment.configSource == 5)  // DEFAULT_CONFIG
        #expect(segment.value == "1073741824")
    }

    @Test func describeConfigsFiltersKeysAndReportsUnknownTopics() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("k")
        let response = try connection.roundTrip(
            DescribeConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "k", configurationKeys: ["retention.ms", "max.message.bytes"]),
                .init(resourceType: 2, resourceName: "missing", configurationKeys: nil),
            ]), version: 4)
        #expect(response.results[0].configs.map(\.name).sorted() == ["max.message.bytes", "retention.ms"])
        #expect(response.results[1].errorCode == .unknownTopicOrPartition)
    }

    @Test func describeBrokerConfigNamesKafkaKeys() throws {
        let broker = try TestBroker(["node.id": "3", "message.max.bytes": "500000"])
        let connection = try broker.connect()
        let response = try connection.roundTrip(
            DescribeConfigsRequest(resources: [.init(resourceType: 4, resourceName: "3", configurationKeys: nil)]), version: 4)
        let configs = try #require(response.results.first?.configs)
        #expect(configs.first { $0.name == "message.max.bytes" }?.value == "500000")
        #expect(configs.first { $0.name == "message.max.bytes" }?.configSource == 4)
        #expect(configs.first { $0.name == "num.partitions" }?.configSource == 5)
        #expect(configs.first { $0.name == "log.dirs" }?.value == broker.dataPath)
        let wrong = try connection.roundTrip(
            DescribeConfigsRequest(resources: [.init(resourceType: 4, resourceName: "9", configurationKeys: nil)]), version: 4)
        #expect(wrong.results.first?.errorCode == .invalidRequest)
    }

    @Test func incrementalAlterConfigsReachesTheRunningLogAndSurvivesARestart() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("alter", partitions: 2)
        let response = try connection.roundTrip(
            IncrementalAlterConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "alter", configs: [
                    .init(name: "retention.ms", configOperation: 0, value: "60000"),
                    .init(name: "cleanup.policy", configOperation: 2, value: "compact"),
                ])
            ], validateOnly: false), version: 1)
        #expect(response.responses.first?.errorCode == ErrorCode.none)
        for p: Int32 in 0..<2 {
            let log = try #require(broker.broker.logManager.log(TopicPartition("alter", p)))
            #expect(log.config.retentionMs == 60000)
            #expect(log.config.cleanupPolicy == .compactDelete)
        }
        try broker.restart()
        let log = try #require(broker.broker.logManager.log(TopicPartition("alter", 1)))
        #expect(log.config.retentionMs == 60000)
        let again = try broker.connect()
        _ = try again.roundTrip(
            IncrementalAlterConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "alter", configs: [.init(name: "retention.ms", configOperation: 1, value: nil)])
            ], validateOnly: false), version: 1)
        #expect(log.config.retentionMs == LogConfig().retentionMs)
        #expect(try describeTopic(again, "alter").configs.first { $0.name == "retention.ms" }?.configSource == 5)
    }

    @Test func incrementalAlterConfigsRefusesBadValuesWholesale() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("strict")
        let response = try connection.roundTrip(
            IncrementalAlterConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "strict", configs: [
                    .init(name: "retention.ms", configOperation: 0, value: "1000"),
                    .init(name: "segment.bytes", configOperation: 0, value: "-5"),
                ]),
                .init(resourceType: 2, resourceName: "absent", configs: [.init(name: "retention.ms", configOperation: 0, value: "1")]),
                .init(resourceType: 2, resourceName: "strict", configs: [.init(name: "retention.ms", configOperation: 2, value: "1")]),
            ], validateOnly: false), version: 1)
        #expect(response.responses.map(\.errorCode) == [.invalidConfig, .unknownTopicOrPartition, .invalidConfig])
        #expect(response.responses[0].errorMessage?.contains("segment.bytes") == true)
        #expect(broker.broker.logManager.log(TopicPartition("strict", 0))?.config.retentionMs == LogConfig().retentionMs)
    }

    @Test func validateOnlyAltersNothing() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("v")
        let response = try connection.roundTrip(
            IncrementalAlterConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "v", configs: [.init(name: "retention.ms", configOperation: 0, value: "5")])
            ], validateOnly: true), version: 1)
        #expect(response.responses.first?.errorCode == ErrorCode.none)
        #expect(broker.broker.topics.topic("v")?.overrides.isEmpty == true)
    }
}
