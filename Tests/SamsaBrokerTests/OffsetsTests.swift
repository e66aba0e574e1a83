import NIOCore
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct OffsetsTests {
    func listOffsets(_ connection: TestConnection, _ topic: String, partition: Int32 = 0, _ timestamp: Int64, version: Int16 = 7) throws -> ListOffsetsResponse.ListOffsetsPartitionResponse {
        let response = try connection.roundTrip(
            ListOffsetsRequest(replicaId: -1, isolationLevel: 0, topics: [.init(name: topic, partitions: [.init(partitionIndex: partition, timestamp: timestamp)])]),
            version: version)
        return try #require(response.topics.first?.partitions.first)
    }

    @Test func earliestLatestAndByTimestamp() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("t")
        _ = try connection.produce("t", Batches.make(["a", "b", "c"], timestamp: 1000))  // 1000, 1001, 1002
        _ = try connection.produce("t", Batches.make(["d", "e"], timestamp: 2000))  // 2000, 2001
        #expect(try listOffsets(connection, "t", -2).offset == 0)
        #expect(try listOffsets(connection, "t", -1).offset == 5)
        let byTime = try listOffsets(connection, "t", 1001)
        #expect(byTime.offset == 1)
        #expect(byTime.timestamp == 1001)
        #expect(try listOffsets(connection, "t", 1500).offset == 3)
        let tooLate = try listOffsets(connection, "t", 9999)
        #expect(tooLate.offset == -1)
        #expect(tooLate.timestamp == -1)
        let newest = try listOffsets(connection, "t", -3)
        #expect(newest.offset == 4)
        #expect(newest.timestamp == 2001)
        #expect(try listOffsets(connection, "t", -3, version: 6).errorCode == .unsupportedVersion)
        #expect(try listOffsets(connection, "t", partition: 4, -1).errorCode == .unknownTopicOrPartition)
    }

    @Test func deleteRecordsMovesTheLowWatermark() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("dr")
        _ = try connection.produce("dr", Batches.make(["a", "b", "c", "d"]))
        let response = try connection.roundTrip(
            DeleteRecordsRequest(topics: [.init(name: "dr", partitions: [.init(partitionIndex: 0, offset: 2)])], timeoutMs: 1000), version: 2)
        let result = try #require(response.topics.first?.partitions.first)
        #expect(result.errorCode == .none)
        #expect(result.lowWatermark == 2)
        #expect(try listOffsets(connection, "dr", -2).offset == 2)
        let below = try connection.roundTrip(FetchRequest.single("dr", offset: 1), version: 12)
        #expect(below.firstPartition?.errorCode == .offsetOutOfRange)
        #expect(below.firstPartition?.logStartOffset == 2)
        let toEnd = try connection.roundTrip(
            DeleteRecordsRequest(topics: [.init(name: "dr", partitions: [.init(partitionIndex: 0, offset: -1), .init(partitionIndex: 7, offset: 0)])], timeoutMs: 1000), version: 2)
        #expect(toEnd.topics.first?.partitions.map(\.lowWatermark).first == 4)
        #expect(toEnd.topics.first?.partitions.last?.errorCode == .unknownTopicOrPartition)
        let beyond = try connection.roundTrip(
            DeleteRecordsRequest(topics: [.init(name: "dr", partitions: [.init(partitionIndex: 0, offset: 10)])], timeoutMs: 1000), version: 2)
        #expect(beyond.topics.first?.partitions.first?.errorCode == .offsetOutOfRange)
    }
}

@Suite struct ClusterApiTests {
    @Test func describeClusterNamesThisBrokerAsController() throws {
        let broker = try TestBroker(["node.id": "4"])
        let connection = try broker.connect()
        let response = try connection.roundTrip(DescribeClusterRequest(), version: 1)
        #expect(response.errorCode == .none)
        #expect(response.clusterId == broker.broker.clusterId)
        #expect(response.controllerId == 4)
        #expect(response.brokers.map(\.brokerId) == [4])
        #expect(response.brokers.first?.port == 9092)
        let controllers = try connection.roundTrip(DescribeClusterRequest(endpointType: 2), version: 1)
        #expect(controllers.errorCode == .mismatchedEndpointType)
    }

    @Test func saslHandshakeOffersNoMechanism() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let response = try connection.roundTrip(SaslHandshakeRequest(mechanism: "PLAIN"), version: 1)
        #expect(response.errorCode == .unsupportedSaslMechanism)
        #expect(response.mechanisms.isEmpty)
    }

    @Test func producerIdsAreNeverReusedAcrossRestarts() throws {
        let broker = try TestBroker()
        var seen = Set<Int64>()
        for _ in 0..<3 {
            let connection = try broker.connect()
            for _ in 0..<3 {
                let response = try connection.roundTrip(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000), version: 4)
                #expect(response.errorCode == .none)
                #expect(response.producerEpoch == 0)
                #expect(seen.insert(response.producerId).inserted)
            }
            try broker.restart()
        }
        let connection = try broker.connect()
        let transactional = try connection.roundTrip(InitProducerIdRequest(transactionalId: "tx", transactionTimeoutMs: 60000), version: 4)
        #expect(transactional.errorCode == .transactionalIdAuthorizationFailed)
    }
}
