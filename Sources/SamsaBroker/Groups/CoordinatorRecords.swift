import NIOCore
import SamsaProtocol

/// The records of `__consumer_offsets`, in Kafka's schemas (group-coordinator's `OffsetCommitKey.json`,
/// `OffsetCommitValue.json`, `GroupMetadataKey.json`, `GroupMetadataValue.json`): a key and a value, each an int16
/// version and then the fields of that version. A null value is a tombstone.
///
/// ```
/// key   v1: group string, topic string, partition int32           (v0 is the same; Kafka writes v1)
/// value v3: offset int64, leaderEpoch int32, metadata string, commitTimestamp int64
/// value v1: offset int64, metadata string, commitTimestamp int64, expireTimestamp int64  (a commit with retention)
/// key   v2: group string
/// value v3: protocolType string, generation int32, protocol string?, leader string?, currentStateTimestamp int64,
///           members [memberId, groupInstanceId?, clientId, clientHost, rebalanceTimeout, sessionTimeout,
///                    subscription bytes, assignment bytes]
/// ```
/// Versions 4 of both values are the flexible encodings (compact lengths, tagged fields); they are read, not written.
enum CoordinatorRecord: Equatable {
    case offsetCommit(OffsetCommitKey, OffsetAndMetadata?)
    case groupMetadata(group: String, GroupMetadataValue?)

    static let offsetCommitKeyVersion: Int16 = 1
    static let groupMetadataKeyVersion: Int16 = 2
    static let groupMetadataValueVersion: Int16 = 3

    // MARK: Encoding

    /// The key bytes.
    var key: [UInt8] {
        var w = WireWriter()
        switch self {
        case .offsetCommit(let key, _):
            w.writeInt16(Self.offsetCommitKeyVersion)
            Self.writeString(key.group, to: &w)
            Self.writeString(key.topic, to: &w)
            w.writeInt32(key.partition)
        case .groupMetadata(let group, _):
            w.writeInt16(Self.groupMetadataKeyVersion)
            Self.writeString(group, to: &w)
        }
        return Array(w.buffer.readableBytesView)
    }

    /// The value bytes; nil for a tombstone.
    var value: [UInt8]? {
        var w = WireWriter()
        switch self {
        case .offsetCommit(_, nil), .groupMetadata(_, nil):
            return nil
        case .offsetCommit(_, let value?):
            if let expire = value.expireTimestampMs {
                w.writeInt16(1)
                w.writeInt64(value.offset)
                Self.writeString(value.metadata, to: &w)
                w.writeInt64(value.commitTimestampMs)
                w.writeInt64(expire)
            } else {
                w.writeInt16(3)
                w.writeInt64(value.offset)
                w.writeInt32(value.leaderEpoch)
                Self.writeString(value.metadata, to: &w)
                w.writeInt64(value.commitTimestampMs)
            }
        case .groupMetadata(_, let value?):
            w.writeInt16(Self.groupMetadataValueVersion)
            Self.writeString(value.protocolType, to: &w)
            w.writeInt32(value.generation)
            Self.writeNullableString(value.protocolName, to: &w)
            Self.writeNullableString(value.leader, to: &w)
            w.writeInt64(value.currentStateTimestampMs)
            w.writeInt32(Int32(value.members.count))
            for member in value.members {
                Self.writeString(member.memberId, to: &w)
                Self.writeNullableString(member.groupInstanceId, to: &w)
                Self.writeString(member.clientId, to: &w)
                Self.writeString(member.clientHost, to: &w)
                w.writeInt32(member.rebalanceTimeoutMs)
                w.writeInt32(member.sessionTimeoutMs)
                var subscription = member.subscription
                w.writeInt32(Int32(subscription.readableBytes))
                w.buffer.writeBuffer(&subscription)
                var assignment = member.assignment
                w.writeInt32(Int32(assignment.readableBytes))
                w.buffer.writeBuffer(&assignment)
            }
        }
        return Array(w.buffer.readableBytesView)
    }

    /// Strings longer than an int16 length cannot be written; group ids, topic names and client ids are bounded
    /// well below that by the request frames they come from, except commit metadata (bounded by
    /// `offset.metadata.max.bytes`) and member ids (made here). Anything longer is cut, never a trap.
    private static func writeString(_ s: String, to w: inout WireWriter) {
        let bytes = Array(s.utf8.prefix(Int(Int16.max)))
        w.writeInt16(Int16(bytes.count))
        w.buffer.writeBytes(bytes)
    }

    private static func writeNullableString(_ s: String?, to w: inout WireWriter) {
        if let s { writeString(s, to: &w) } else { w.writeInt16(-1) }
    }

    // MARK: Decoding

    /// Reads a record of `__consumer_offsets`; nil for key types this coordinator does not keep (the records of
    /// KIP-848 consumer groups, share groups, transactions' pending offsets are not written by Samsa).
    static func decode(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) throws(ProtocolError) -> CoordinatorRecord? {
        var k = WireReader(ByteBuffer(bytes: key))
        let keyVersion = try k.readInt16("CoordinatorRecord.KeyVersion")
        switch keyVersion {
        case 0, 1:
            let group = try k.readString(compact: false, "OffsetCommitKey.Group")
            let topic = try k.readString(compact: false, "OffsetCommitKey.Topic")
            let partition = try k.readInt32("OffsetCommitKey.Partition")
            let recordKey = OffsetCommitKey(group: group, topic: topic, partition: partition)
            guard let value else { return .offsetCommit(recordKey, nil) }
            return .offsetCommit(recordKey, try decodeOffsetCommitValue(value))
        case 2:
            let group = try k.readString(compact: false, "GroupMetadataKey.Group")
            guard let value else { return .groupMetadata(group: group, nil) }
            return .groupMetadata(group: group, try decodeGroupMetadataValue(value))
        default:
            return nil
        }
    }

    static func decodeOffsetCommitValue(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) -> OffsetAndMetadata {
        var r = WireReader(ByteBuffer(bytes: bytes))
        let version = try r.readInt16("OffsetCommitValue.Version")
        guard (0...4).contains(version) else {
            throw ProtocolError(.unsupportedVersion(apiKey: -1, version: version), field: "OffsetCommitValue")
        }
        let flexible = version >= 4
        var value = OffsetAndMetadata(offset: try r.readInt64("OffsetCommitValue.Offset"), commitTimestampMs: -1)
        if version >= 3 { value.leaderEpoch = try r.readInt32("OffsetCommitValue.LeaderEpoch") }
        value.metadata = try r.readString(compact: flexible, "OffsetCommitValue.Metadata")
        value.commitTimestampMs = try r.readInt64("OffsetCommitValue.CommitTimestamp")
        if version == 1 {
            let expire = try r.readInt64("OffsetCommitValue.ExpireTimestamp")
            value.expireTimestampMs = expire == -1 ? nil : expire
        }
        if flexible { try r.skipTaggedFields("OffsetCommitValue._tagged") }
        return value
    }

    static func decodeGroupMetadataValue(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) -> GroupMetadataValue {
        var r = WireReader(ByteBuffer(bytes: bytes))
        let version = try r.readInt16("GroupMetadataValue.Version")
        guard (0...4).contains(version) else {
            throw ProtocolError(.unsupportedVersion(apiKey: -1, version: version), field: "GroupMetadataValue")
        }
        let flexible = version >= 4
        var value = GroupMetadataValue(
            protocolType: try r.readString(compact: flexible, "GroupMetadataValue.ProtocolType"),
            generation: try r.readInt32("GroupMetadataValue.Generation"),
            protocolName: try r.readNullableString(compact: flexible, "GroupMetadataValue.Protocol"),
            leader: try r.readNullableString(compact: flexible, "GroupMetadataValue.Leader"),
            currentStateTimestampMs: -1, members: [])
        if version >= 2 { value.currentStateTimestampMs = try r.readInt64("GroupMetadataValue.CurrentStateTimestamp") }
        let count = try r.readArrayCount(compact: flexible, minElementSize: flexible ? 8 : 20, "GroupMetadataValue.Members")
        for _ in 0..<count {
            let memberId = try r.readString(compact: flexible, "MemberMetadata.MemberId")
            let instanceId = version >= 3 ? try r.readNullableString(compact: flexible, "MemberMetadata.GroupInstanceId") : nil
            let clientId = try r.readString(compact: flexible, "MemberMetadata.ClientId")
            let clientHost = try r.readString(compact: flexible, "MemberMetadata.ClientHost")
            let rebalanceTimeout = version >= 1 ? try r.readInt32("MemberMetadata.RebalanceTimeout") : -1
            let sessionTimeout = try r.readInt32("MemberMetadata.SessionTimeout")
            let subscription = try r.readBytes(compact: flexible, "MemberMetadata.Subscription")
            let assignment = try r.readBytes(compact: flexible, "MemberMetadata.Assignment")
            if flexible { try r.skipTaggedFields("MemberMetadata._tagged") }
            value.members.append(
                GroupMetadataValue.Member(
                    memberId: memberId, groupInstanceId: instanceId, clientId: clientId, clientHost: clientHost,
                    rebalanceTimeoutMs: rebalanceTimeout == -1 ? sessionTimeout : rebalanceTimeout,
                    sessionTimeoutMs: sessionTimeout, subscription: subscription, assignment: assignment))
        }
        if flexible { try r.skipTaggedFields("GroupMetadataValue._tagged") }
        return value
    }
}

/// Which partition's offset a record holds.
struct OffsetCommitKey: Hashable, Sendable {
    var group: String
    var topic: String
    var partition: Int32
}

/// A committed offset (Kafka's `OffsetAndMetadata`).
struct OffsetAndMetadata: Equatable, Sendable {
    var offset: Int64
    var leaderEpoch: Int32 = -1
    var metadata: String = ""
    var commitTimestampMs: Int64
    /// Set by OffsetCommit v2-4 with an explicit retention time: the offset expires then, whatever the group does.
    var expireTimestampMs: Int64? = nil
}

/// A classic group as stored (Kafka's `GroupMetadataValue`).
struct GroupMetadataValue: Equatable, Sendable {
    var protocolType: String
    var generation: Int32
    var protocolName: String?
    var leader: String?
    var currentStateTimestampMs: Int64
    var members: [Member]

    struct Member: Equatable, Sendable {
        var memberId: String
        var groupInstanceId: String?
        var clientId: String
        var clientHost: String
        var rebalanceTimeoutMs: Int32
        var sessionTimeoutMs: Int32
        var subscription: ByteBuffer
        var assignment: ByteBuffer
    }
}
