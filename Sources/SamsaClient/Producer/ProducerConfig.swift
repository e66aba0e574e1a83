import SamsaLog

/// The producer's settings, with Kafka's names and defaults (Kafka 4.0's).
///
/// ```swift
/// var config = ProducerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092"))
/// try config.apply(["acks": "1", "linger.ms": "10", "compression.type": "lz4"])
/// ```
public struct ProducerConfig: Sendable {
    public var client: ClientConfig
    /// `acks`: 0 (no response), 1 (leader), -1 (all in-sync replicas).
    public var acks: Int16 = -1
    /// `batch.size`: a partition's batch is sent once its records reach this many bytes (uncompressed).
    public var batchSizeBytes: Int = 16_384
    /// `linger.ms`: how long a batch that is not full waits for more records.
    public var lingerMs: Int64 = 5
    /// `compression.type`.
    public var compression: CompressionCodec = .none
    /// `compression.<codec>.level`; nil for the codec's default.
    public var compressionLevel: Int?
    /// `buffer.memory`: records waiting to be sent or acknowledged; `send` blocks beyond it.
    public var bufferMemoryBytes: Int = 32 << 20
    /// `max.in.flight.requests.per.connection`.
    public var maxInFlightRequestsPerConnection: Int = 5
    /// `retries`: how many times a batch is sent again after a retriable error.
    public var retries: Int = Int(Int32.max)
    /// `retry.backoff.ms`.
    public var retryBackoffMs: Int64 = 100
    /// `delivery.timeout.ms`: a record not acknowledged within this time fails.
    public var deliveryTimeoutMs: Int64 = 120_000
    /// `max.request.size`: the largest record (and produce request) the producer sends.
    public var maxRequestSizeBytes: Int = 1_048_576
    /// `max.block.ms`: how long `send` waits for metadata or buffer memory.
    public var maxBlockMs: Int64 = 60_000
    /// `enable.idempotence`: a producer id, epoch and per-partition sequence numbers in every batch, so that
    /// the broker writes each batch once however often it is retried. Off by default here (Kafka 3's Java
    /// producer turns it on): it needs a broker with InitProducerId. Requires acks=all.
    public var enableIdempotence = false

    public init(client: ClientConfig) {
        self.client = client
    }

    /// Applies Kafka producer properties; returns the keys it does not know (for a warning).
    @discardableResult
    public mutating func apply(_ properties: [String: String]) throws(ClientError) -> Set<String> {
        var unused = try client.apply(properties)
        for key in unused {
            let value = properties[key]!
            switch key {
            case "acks":
                switch value.trimmingWhitespace().lowercased() {
                case "all", "-1": acks = -1
                case "1": acks = 1
                case "0": acks = 0
                default: throw .invalidConfig(name: key, value: value, reason: "expected all, -1, 0 or 1")
                }
            case "batch.size": batchSizeBytes = try Properties.int(key, value, min: 0, max: Int(Int32.max))
            case "linger.ms": lingerMs = try Properties.int64(key, value, min: 0)
            case "compression.type":
                guard let codec = CompressionCodec(name: value.trimmingWhitespace()) else {
                    throw .invalidConfig(name: key, value: value, reason: "expected none, gzip, snappy, lz4 or zstd")
                }
                compression = codec
            case "compression.gzip.level", "compression.lz4.level", "compression.zstd.level":
                compressionLevel = try Properties.int(key, value, min: -131_072, max: 22)
            case "buffer.memory": bufferMemoryBytes = try Properties.int(key, value, min: 1)
            case "max.in.flight.requests.per.connection":
                maxInFlightRequestsPerConnection = try Properties.int(key, value, min: 1, max: 1_000)
            case "retries": retries = try Properties.int(key, value, min: 0)
            case "retry.backoff.ms": retryBackoffMs = try Properties.int64(key, value, min: 0)
            case "delivery.timeout.ms": deliveryTimeoutMs = try Properties.int64(key, value, min: 1)
            case "max.request.size": maxRequestSizeBytes = try Properties.int(key, value, min: 1, max: Int(Int32.max))
            case "max.block.ms": maxBlockMs = try Properties.int64(key, value, min: 0)
            case "enable.idempotence": enableIdempotence = try Properties.bool(key, value)
            // Accepted with no effect here: serializers are bytes, the partitioner is Kafka's default, and socket
            // buffers are the system's.
            case "key.serializer", "value.serializer", "partitioner.class", "send.buffer.bytes", "receive.buffer.bytes":
                break
            default:
                continue
            }
            unused.remove(key)
        }
        try validate()
        return unused
    }

    /// Kafka's checks of settings that contradict each other.
    public func validate() throws(ClientError) {
        guard enableIdempotence else { return }
        if acks != -1 {
            throw .invalidConfig(
                name: "acks", value: "\(acks)",
                reason: "must be all (-1) in order to use the idempotent producer (enable.idempotence=true)")
        }
        if retries == 0 {
            throw .invalidConfig(name: "retries", value: "0", reason: "must be above 0 when using the idempotent producer")
        }
        if maxInFlightRequestsPerConnection > 5 {
            throw .invalidConfig(
                name: "max.in.flight.requests.per.connection", value: "\(maxInFlightRequestsPerConnection)",
                reason: "must be at most 5 when using the idempotent producer")
        }
    }
}
