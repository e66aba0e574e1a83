import Testing
@testable import SamsaClient

@Suite struct PartitionerTests {
    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = Array(hex.utf8)[...]
        while chars.count >= 2 {
            let pair = String(decoding: chars.prefix(2), as: UTF8.self)
            out.append(UInt8(pair, radix: 16)!)
            chars = chars.dropFirst(2)
        }
        return out
    }

    @Test func murmur2MatchesKafkaPythonForEveryVector() {
        #expect(Murmur2Vectors.vectors.count == 90)
        for vector in Murmur2Vectors.vectors {
            let key = Self.bytes(hex: vector.key)
            #expect(Partitioner.murmur2(key) == vector.hash, "key \(vector.key)")
        }
    }

    @Test func keyedPartitionMatchesKafkaForEveryPartitionCount() {
        for vector in Murmur2Vectors.vectors {
            let key = Self.bytes(hex: vector.key)
            for (count, expected) in zip(Murmur2Vectors.partitionCounts, vector.partitions) {
                #expect(
                    Partitioner.partition(forKey: key, partitionCount: count) == expected,
                    "key \(vector.key) over \(count) partitions")
            }
        }
    }

    @Test func toPositiveClearsTheSignBitRatherThanNegating() {
        // abs() would give 1 for -1; Kafka masks to 0x7fffffff.
        #expect(Partitioner.toPositive(-1) == Int32.max)
        #expect(Partitioner.toPositive(Int32.min) == 0)
        #expect(Partitioner.toPositive(42) == 42)
        // A vector whose hash is negative lands where the masked value says.
        let negative = Murmur2Vectors.vectors.first { $0.hash < 0 }!
        let masked = Int(negative.hash & 0x7fff_ffff)
        #expect(Partitioner.partition(forKey: Self.bytes(hex: negative.key), partitionCount: 7) == Int32(masked % 7))
    }

    @Test func stickyPartitionStaysUntilItsBatchClosesThenMovesElsewhere() {
        var sticky = StickyPartitions()
        let first = sticky.partition(topic: "t", partitionCount: 6)
        for _ in 0..<100 { #expect(sticky.partition(topic: "t", partitionCount: 6) == first) }
        for _ in 0..<50 {
            let before = sticky.partition(topic: "t", partitionCount: 6)
            sticky.next(topic: "t", previous: before, partitionCount: 6)
            let after = sticky.partition(topic: "t", partitionCount: 6)
            #expect(after != before)
            #expect((0..<6).contains(after))
        }
    }

    @Test func stickyPartitionIgnoresAStaleMoveAndStaysOnASinglePartition() {
        var sticky = StickyPartitions()
        let current = sticky.partition(topic: "t", partitionCount: 4)
        sticky.next(topic: "t", previous: (current + 1) % 4, partitionCount: 4)
        #expect(sticky.partition(topic: "t", partitionCount: 4) == current)
        var single = StickyPartitions()
        #expect(single.partition(topic: "one", partitionCount: 1) == 0)
        single.next(topic: "one", previous: 0, partitionCount: 1)
        #expect(single.partition(topic: "one", partitionCount: 1) == 0)
    }

    @Test func stickyChoicesCoverEveryPartition() {
        var sticky = StickyPartitions()
        var seen = Set<Int32>()
        for _ in 0..<400 {
            let p = sticky.partition(topic: "t", partitionCount: 5)
            seen.insert(p)
            sticky.next(topic: "t", previous: p, partitionCount: 5)
        }
        #expect(seen == [0, 1, 2, 3, 4])
    }
}
