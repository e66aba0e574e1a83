/// How the producer picks a partition: Kafka's default partitioner.
///
/// - A keyed record goes to `toPositive(murmur2(key)) % partitionCount`, the same partition the Java
///   client (`BuiltInPartitioner.partitionForKey`) and librdkafka's `murmur2_random` pick for the same key.
/// - A record without a key goes to the topic's sticky partition, chosen at random and kept until a batch
///   for it is sent or filled, so that keyless records form full batches (KIP-480).
///
/// ```swift
/// Partitioner.partition(forKey: Array("user-42".utf8), partitionCount: 6)   // always the same partition
/// ```
public enum Partitioner {
    /// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed 0x9747b28c, over the key bytes.
    public static func murmur2(_ data: UnsafeRawBufferPointer) -> Int32 {
        let length = data.count
        let seed: UInt32 = 0x9747_b28c
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = seed ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for i in 0..<blocks {
            let base = i * 4
            var k = UInt32(data[base]) | UInt32(data[base + 1]) << 8 | UInt32(data[base + 2]) << 16
                | UInt32(data[base + 3]) << 24
            k &*= m
            k ^= k >> r
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = blocks * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 1:
            h ^= UInt32(data[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    public static func murmur2(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { murmur2($0) }
    }

    /// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which differs for negative values).
    @inline(__always)
    public static func toPositive(_ value: Int32) -> Int32 { value & 0x7fff_ffff }

    /// The partition of a keyed record.
    public static func partition(forKey key: UnsafeRawBufferPointer, partitionCount: Int) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        return Int32(Int(toPositive(murmur2(key))) % partitionCount)
    }

    public static func partition(forKey key: [UInt8], partitionCount: Int) -> Int32 {
        key.withUnsafeBytes { partition(forKey: $0, partitionCount: partitionCount) }
    }
}

/// The sticky choice for keyless records, per topic: a partition kept until `next` is asked for a new one
/// (when its batch was closed). A new choice differs from the previous one when there is more than one
/// partition, as in Kafka's `StickyPartitionCache`.
struct StickyPartitions {
    private var current: [String: Int32] = [:]
    private var random = SystemRandomNumberGenerator()

    mutating func partition(topic: String, partitionCount: Int) -> Int32 {
        if let chosen = current[topic], Int(chosen) < partitionCount { return chosen }
        let chosen = Int32(Int.random(in: 0..<partitionCount, using: &random))
        current[topic] = chosen
        return chosen
    }

    /// Moves the topic to another partition (after `previous`'s batch was closed).
    mutating func next(topic: String, previous: Int32, partitionCount: Int) {
        guard current[topic] == previous else { return }
        guard partitionCount > 1 else { return }
        var chosen = Int32(Int.random(in: 0..<(partitionCount - 1), using: &random))
        if chosen >= previous { chosen += 1 }
        current[topic] = chosen
    }
}
