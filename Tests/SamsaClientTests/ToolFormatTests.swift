import SamsaLog
import SamsaProtocol
import Testing
@testable import SamsaClient

@Suite struct MessageFormatterTests {
    static func line(_ formatter: MessageFormatter, key: String?, value: String?, headers: [(String, String?)] = [],
                     offset: Int64 = 5, partition: Int32 = 2, timestamp: Int64 = 1_700_000_000_123) -> String {
        var out: [UInt8] = []
        let keyBytes = key.map { Array($0.utf8) }
        let valueBytes = value.map { Array($0.utf8) }
        let headerBytes = headers.map { (Array($0.0.utf8), $0.1.map { Array($0.utf8) }) }
        keyBytes.withRawBytes { k in
            valueBytes.withRawBytes { v in
                withHeaders(headerBytes) { h in
                    formatter.write(
                        timestampType: .createTime, timestamp: timestamp, partition: partition, offset: offset, headers: h,
                        key: k, value: v, into: &out)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func withHeaders<R>(
        _ headers: [([UInt8], [UInt8]?)], _ body: ([(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?)]) -> R
    ) -> R {
        var pointers: [(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?)] = []
        var owned: [UnsafeMutableRawBufferPointer] = []
        for (k, v) in headers {
            let kp = UnsafeMutableRawBufferPointer.allocate(byteCount: k.count, alignment: 1)
            kp.copyBytes(from: k)
            owned.append(kp)
            var vp: UnsafeRawBufferPointer?
            if let v {
                let m = UnsafeMutableRawBufferPointer.allocate(byteCount: v.count, alignment: 1)
                m.copyBytes(from: v)
                owned.append(m)
                vp = UnsafeRawBufferPointer(m)
            }
            pointers.append((UnsafeRawBufferPointer(kp), vp))
        }
        defer { owned.forEach { $0.deallocate() } }
        return body(pointers)
    }

    @Test func theDefaultPrintsOnlyTheValue() {
        #expect(Self.line(MessageFormatter(), key: "k", value: "hello") == "hello\n")
        #expect(Self.line(MessageFormatter(), key: nil, value: nil) == "null\n")
    }

    @Test func everyFieldInKafkasOrderWithTabs() {
        let formatter = MessageFormatter(properties: [
            "print.timestamp": "true", "print.partition": "true", "print.offset": "true", "print.headers": "true",
            "print.key": "TRUE", "print.value": "true",
        ])
        #expect(Self.line(formatter, key: "k", value: "v", headers: [("h1", "a"), ("h2", nil)])
            == "CreateTime:1700000000123\tPartition:2\tOffset:5\th1:a,h2:null\tk\tv\n")
        #expect(Self.line(formatter, key: nil, value: "v") == "CreateTime:1700000000123\tPartition:2\tOffset:5\tNO_HEADERS\tnull\tv\n")
    }

    @Test func separatorsAndTheNullLiteralAreConfigurable() {
        let formatter = MessageFormatter(properties: [
            "print.key": "true", "key.separator": " => ", "line.separator": "|", "null.literal": "<nil>",
        ])
        #expect(Self.line(formatter, key: nil, value: "v") == "<nil> => v|")
    }

    @Test func withoutTheValueTheLastFieldEndsTheLine() {
        let formatter = MessageFormatter(properties: ["print.key": "true", "print.value": "false"])
        #expect(Self.line(formatter, key: "only-key", value: "v") == "only-key\n")
        let offsets = MessageFormatter(properties: ["print.offset": "true", "print.value": "false"])
        #expect(Self.line(offsets, key: nil, value: nil) == "Offset:5\n")
    }

    @Test func anythingButTrueIsFalse() {
        let formatter = MessageFormatter(properties: ["print.key": "yes", "print.offset": " true "])
        #expect(!formatter.printKey)
        #expect(formatter.printOffset)
    }
}

@Suite struct LineMessageReaderTests {
    static func parse(_ line: String, _ properties: [String: String] = [:]) throws -> LineMessageReader.ParsedRecord {
        try LineMessageReader(properties: properties).parse(Array(line.utf8), lineNumber: 3)
    }

    @Test func aPlainLineIsTheValueWithANullKey() throws {
        let record = try Self.parse("This is my first event")
        #expect(record.key == nil)
        #expect(record.value == Array("This is my first event".utf8))
        #expect(record.headers.isEmpty)
    }

    @Test func parseKeySplitsAtTheFirstSeparator() throws {
        let record = try Self.parse("user-1:a:b", ["parse.key": "true", "key.separator": ":"])
        #expect(record.key == Array("user-1".utf8))
        #expect(record.value == Array("a:b".utf8))
        let tab = try Self.parse("k\tv", ["parse.key": "true"])
        #expect(tab.key == Array("k".utf8) && tab.value == Array("v".utf8))
        let multi = try Self.parse("k::=v", ["parse.key": "true", "key.separator": "::="])
        #expect(multi.key == Array("k".utf8) && multi.value == Array("v".utf8))
    }

    @Test func aMissingSeparatorIsAnErrorNamingTheLineUnlessIgnored() throws {
        #expect(throws: LineMessageReader.ParseError(message: "No key separator found on line number 3: 'novalue'")) {
            try Self.parse("novalue", ["parse.key": "true", "key.separator": ":"])
        }
        let ignored = try Self.parse("novalue", ["parse.key": "true", "key.separator": ":", "ignore.error": "true"])
        #expect(ignored.key == nil && ignored.value == Array("novalue".utf8))
    }

    @Test func headersKeyAndValueFromOneLine() throws {
        let record = try Self.parse("h1:v1,h2:v2\tk\tvalue", ["parse.headers": "true", "parse.key": "true"])
        #expect(record.headers == [RecordHeader(key: "h1", value: Array("v1".utf8)), RecordHeader(key: "h2", value: Array("v2".utf8))])
        #expect(record.key == Array("k".utf8))
        #expect(record.value == Array("value".utf8))
    }

    @Test func theNullMarkerMakesNulls() throws {
        let record = try Self.parse("NULL\tNULL", ["parse.key": "true", "null.marker": "NULL"])
        #expect(record.key == nil && record.value == nil)
        let headerNull = try Self.parse("h:NULL\tv", ["parse.headers": "true", "null.marker": "NULL"])
        #expect(headerNull.headers == [RecordHeader(key: "h", value: nil)])
    }

    @Test func collidingSeparatorsAreRefusedAsKafkaDoes() {
        #expect(throws: LineMessageReader.ParseError.self) { try LineMessageReader(properties: ["headers.separator": "\t"]) }
        #expect(throws: LineMessageReader.ParseError.self) {
            try LineMessageReader(properties: ["null.marker": ":", "key.separator": ":"])
        }
    }
}

@Suite struct TopicCommandFormatTests {
    static let topic = TopicDescription(
        name: "quickstart-events", topicId: Uuid(mostSignificantBits: 0x3cf9_9f23_6f61_4f8c, leastSignificantBits: 0xb4d3_0c20_5dc1_ff6b),
        partitions: [
            PartitionMetadata(partition: 1, leader: -1, replicas: [1, 2], isr: []),
            PartitionMetadata(partition: 0, leader: 1, replicas: [1], isr: [1]),
        ])

    @Test func theTopicLineHasKafkasFieldsAndOnlyNonDefaultConfigs() {
        let configs = [
            ConfigEntry(name: "cleanup.policy", value: "delete", source: .defaultConfig),
            ConfigEntry(name: "segment.bytes", value: "1073741824", source: .staticBrokerConfig),
            ConfigEntry(name: "retention.ms", value: "1000", source: .dynamicTopicConfig),
        ]
        #expect(TopicCommandFormat.topicLine(Self.topic, configs: configs)
            == "Topic: quickstart-events\tTopicId: PPmfI29hT4y00wwgXcH_aw\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: segment.bytes=1073741824,retention.ms=1000")
    }

    @Test func aZeroTopicIdIsLeftOut() {
        let noId = TopicDescription(name: "t", partitions: [PartitionMetadata(partition: 0, leader: 1, replicas: [1], isr: [1])])
        #expect(TopicCommandFormat.topicLine(noId, configs: []) == "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: ")
    }

    @Test func partitionLinesAreSortedTabbedAndSayNoneForNoLeader() {
        let lines = Self.topic.partitions.map { TopicCommandFormat.partitionLine(topic: Self.topic.name, $0) }
        #expect(lines == [
            "\tTopic: quickstart-events\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: N/A\tLastKnownElr: N/A",
            "\tTopic: quickstart-events\tPartition: 1\tLeader: none\tReplicas: 1,2\tIsr: \tElr: N/A\tLastKnownElr: N/A",
        ])
    }

    @Test func theCollisionWarningIsForPeriodsAndUnderscores() {
        #expect(TopicCommandFormat.collisionWarning(for: "plain-name") == nil)
        #expect(TopicCommandFormat.collisionWarning(for: "a.b")?.hasPrefix("WARNING: Due to limitations in metric names") == true)
        #expect(TopicCommandFormat.collisionWarning(for: "a_b") != nil)
    }
}

@Suite struct PerformanceFormatTests {
    @Test func fixedRoundsHalfUpLikeJava() {
        #expect(NumberFormat.fixed(0.125, decimals: 2) == "0.13")
        #expect(NumberFormat.fixed(2.5, decimals: 0) == "3")
        #expect(NumberFormat.fixed(1234.5678, decimals: 1) == "1234.6")
        #expect(NumberFormat.fixed(0.00004, decimals: 4) == "0.0000")
        #expect(NumberFormat.fixed(7, decimals: 2) == "7.00")
        #expect(NumberFormat.fixed(-1.25, decimals: 1) == "-1.3")
        #expect(NumberFormat.fixed(.infinity, decimals: 2) == "Infinity")
        #expect(NumberFormat.fixed(.nan, decimals: 2) == "NaN")
        #expect(NumberFormat.grouped(1_234_567) == "1,234,567")
        #expect(NumberFormat.grouped(12) == "12")
    }

    @Test func producerSummaryHasKafkasShapeAndPercentiles() {
        var stats = ProducerPerformanceStats(numRecords: 1_000, reportingIntervalMs: 1_000_000, startMs: 0)
        for i in 0..<1_000 {
            #expect(stats.record(latencyMs: Int32(i % 100 + 1), bytes: 100, nowMs: 10) == nil)
        }
        let line = stats.totalLine(nowMs: 2_000)
        #expect(line == "1000 records sent, 500.0 records/sec (0.05 MB/sec), 50.50 ms avg latency, 100.00 ms max latency, 51 ms 50th, 96 ms 95th, 100 ms 99th, 100 ms 99.9th.")
    }

    @Test func aWindowLineComesOutEachReportingInterval() {
        var stats = ProducerPerformanceStats(numRecords: 10, reportingIntervalMs: 5_000, startMs: 0)
        #expect(stats.record(latencyMs: 2, bytes: 1_048_576, nowMs: 1_000) == nil)
        let line = stats.record(latencyMs: 4, bytes: 1_048_576, nowMs: 5_000)
        #expect(line == "2 records sent, 0.4 records/sec (0.40 MB/sec), 3.0 ms avg latency, 4.0 ms max latency.")
        #expect(stats.record(latencyMs: 1, bytes: 1, nowMs: 6_000) == nil)
    }

    @Test func samplingKeepsAtMostHalfAMillionLatencies() {
        var stats = ProducerPerformanceStats(numRecords: 2_000_000, startMs: 0)
        for i in 0..<2_000_000 { _ = stats.record(latencyMs: Int32(i / 20_000), bytes: 1, nowMs: 0) }
        #expect(stats.count == 2_000_000)
        #expect(stats.percentiles([0.5]) == [50])
    }

    @Test func consumerHeaderAndSummaryMatchKafka() {
        #expect(ConsumerPerformanceFormat.header()
            == "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
        let summary = ConsumerPerformanceFormat.summary(
            startMs: 1_000, endMs: 3_000, bytes: 10 * 1_048_576, messages: 100_000, dateFormat: "'t'SSS")
        #expect(summary == "t000, t000, 10.0000, 5.0000, 100000, 50000.0000, 0, 2000, 5.0000, 50000.0000")
        let fields = ConsumerPerformanceFormat.summary(startMs: 0, endMs: 1_000, bytes: 0, messages: 0).split(separator: ",")
        #expect(fields.count == 10)
    }

    @Test func datesUseSimpleDateFormatLetters() {
        let text = NumberFormat.date(1_700_000_000_123, pattern: "yyyy-MM-dd HH:mm:ss:SSS")
        #expect(text.count == 23)
        #expect(text.hasPrefix("2023-11-1"))
        #expect(text.hasSuffix(":123"))
    }

    @Test func theThrottlerHoldsBackOnlyWhenAhead() {
        var throttler = ThroughputThrottler(targetPerSec: 100, startMs: 0)
        #expect(!throttler.shouldThrottle(amountSoFar: 50, sendStartMs: 1_000))
        #expect(throttler.shouldThrottle(amountSoFar: 500, sendStartMs: 1_000))
        #expect(throttler.throttleNanos() == 10_000_000)
        let unlimited = ThroughputThrottler(targetPerSec: -1, startMs: 0)
        #expect(!unlimited.shouldThrottle(amountSoFar: 1_000_000, sendStartMs: 1))
    }
}
