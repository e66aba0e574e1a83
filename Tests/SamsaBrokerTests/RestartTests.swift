import Foundation
import NIOCore
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct RestartTests {
    @Test func topicsKeepTheirIdsPartitionsAndOverridesAcrossARestart() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("kept", partitions: 3, configs: ["retention.bytes": "1000000"])
        _ = try connection.produce("kept", partition: 2, Batches.make(["x", "y"]))
        let before = try #require(broker.broker.topics.topic("kept"))
        let clusterId = broker.broker.clusterId
        try broker.restart()
        #expect(broker.broker.topics.topic("kept") == before)
        #expect(broker.broker.clusterId == clusterId)
        #expect(broker.broker.logManager.log(TopicPartition("kept", 2))?.logEndOffset == 2)
        #expect(broker.broker.logManager.log(TopicPartition("kept", 0))?.config.retentionBytes == 1_000_000)
        let again = try broker.connect()
        let response = try again.roundTrip(FetchRequest.single("kept", partition: 2, offset: 0), version: 12)
        #expect(try Batches.records(response.firstRecords).map(\.value) == ["x", "y"])
    }

    @Test func aPartitionDirectoryWithoutMetadataIsAdopted() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        // A log written by the engine alone (as a tool or a copy would leave it).
        let manager = try LogManager.open(dataDirectory: data, backgroundIntervalMs: nil)
        let log = try manager.getOrCreateLog(TopicPartition("imported", 1), config: LogConfig())
        let batch = Batches.make(["old"])
        _ = try batch.withUnsafeBytes { try log.append($0) }
        try manager.close()
        let broker = try TestBroker(directory: directory)
        let topic = try #require(broker.broker.topics.topic("imported"))
        #expect(topic.partitionCount == 2)
        #expect(broker.broker.logManager.log(TopicPartition("imported", 0)) != nil)
        #expect(broker.broker.logManager.log(TopicPartition("imported", 1))?.logEndOffset == 1)
    }

    @Test func aLeftoverOfADeletedTopicIsRemovedNotResurrected() throws {
        let directory = TemporaryDirectory()
        do {
            let broker = try TestBroker(directory: directory)
            let connection = try broker.connect()
            try connection.createTopic("ghost")
            broker.close()
        }
        let data = directory.path + "/data"
        // Simulate a crash between the topics file losing the topic and its directory going away.
        try TopicMetadataFile(dataDirectory: data, fileSystem: PosixFileSystem()).write([:])
        let broker = try TestBroker(directory: directory)
        #expect(broker.broker.topics.topic("ghost") == nil)
        #expect(!FileManager.default.fileExists(atPath: data + "/ghost-0"))
    }

    @Test func aSecondBrokerCannotOpenTheSameDirectory() throws {
        let broker = try TestBroker()
        #expect(throws: BrokerError.self) {
            _ = try TestBroker.open([:], directory: broker.directory)
        }
    }

    @Test func metaPropertiesBindsTheDirectoryToItsNode() throws {
        let directory = TemporaryDirectory()
        do {
            let broker = try TestBroker(["node.id": "1"], directory: directory)
            broker.close()
        }
        let text = try String(contentsOfFile: directory.path + "/data/meta.properties", encoding: .utf8)
        #expect(text.contains("node.id=1"))
        #expect(text.contains("version=1"))
        #expect(throws: BrokerError.self) { _ = try TestBroker(["node.id": "2"], directory: directory) }
    }

    @Test func cleanCloseLeavesTheMarkerThatSkipsRecovery() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("c")
        _ = try connection.produce("c", Batches.make(["x"]))
        broker.close()
        #expect(FileManager.default.fileExists(atPath: broker.dataPath + "/" + LogManager.cleanShutdownMarker))
    }
}
