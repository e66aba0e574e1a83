import NIOCore
import Testing
@testable import SamsaProtocol

@Suite struct PrimitiveTests {
    private func written(_ body: (inout WireWriter) throws -> Void) rethrows -> ByteBuffer {
        var w = WireWriter()
        try body(&w)
        return w.buffer
    }

    @Test(arguments: [
        (UInt32(0), "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16383, "ff7f"), (16384, "808001"),
        (2_097_151, "ffff7f"), (268_435_455, "ffffff7f"), (268_435_456, "8080808001"), (UInt32.max, "ffffffff0f"),
    ])
    func unsignedVarintHasProtobufBytes(_ value: UInt32, _ hex: String) throws {
        let bytes = written { $0.writeUnsignedVarint(value) }
        #expect(bytes.hexString == hex)
        #expect(WireWriter.unsignedVarintSize(value) == hex.count / 2)
        var r = WireReader(bytes)
        #expect(try r.readUnsignedVarint("v") == value)
        #expect(r.remaining == 0)
    }

    @Test(arguments: [
        (Int32(0), "00"), (-1, "01"), (1, "02"), (-2, "03"), (63, "7e"), (-64, "7f"), (64, "8001"),
        (Int32.max, "feffffff0f"), (Int32.min, "ffffffff0f"),
    ])
    func varintIsZigZag(_ value: Int32, _ hex: String) throws {
        let bytes = written { $0.writeVarint(value) }
        #expect(bytes.hexString == hex)
        var r = WireReader(bytes)
        #expect(try r.readVarint("v") == value)
    }

    @Test(arguments: [Int64(0), -1, 1, Int64(Int32.max) + 1, Int64(Int32.min) - 1, Int64.max, Int64.min])
    func varlongRoundTripsItsEdges(_ value: Int64) throws {
        let bytes = written { $0.writeVarlong(value) }
        #expect(bytes.readableBytes <= 10)
        var r = WireReader(bytes)
        #expect(try r.readVarlong("v") == value)
        #expect(r.remaining == 0)
    }

    @Test func varlongExtremesUseTenBytes() {
        #expect(written { $0.writeVarlong(Int64.min) }.hexString == "ffffffffffffffffff01")
        #expect(written { $0.writeVarlong(Int64.max) }.hexString == "feffffffffffffffff01")
    }

    @Test func varintThatNeverEndsIsAnError() {
        var r = WireReader(ByteBuffer(hex: "ffffffffffffffff"))
        #expect(throws: ProtocolError(.varintTooLong(maxBytes: 5), field: "X.Count")) { _ = try r.readUnsignedVarint("X.Count") }
        var r2 = WireReader(ByteBuffer(hex: String(repeating: "ff", count: 11)))
        #expect(throws: ProtocolError(.varintTooLong(maxBytes: 10), field: "X.Delta")) { _ = try r2.readVarlong("X.Delta") }
        var r3 = WireReader(ByteBuffer(hex: "ffff"))
        #expect(throws: ProtocolError(.truncated(needed: 1, remaining: 0), field: "X.Count")) { _ = try r3.readUnsignedVarint("X.Count") }
    }

    @Test func fixedWidthIntegersAreBigEndian() throws {
        let bytes = written {
            $0.writeInt8(-2); $0.writeInt16(0x0102); $0.writeInt32(-2); $0.writeInt64(0x0102_0304_0506_0708)
            $0.writeUInt16(0xFFFE); $0.writeUInt32(0xDEAD_BEEF); $0.writeBool(true); $0.writeFloat64(1.5)
        }
        #expect(bytes.hexString == "fe" + "0102" + "fffffffe" + "0102030405060708" + "fffe" + "deadbeef" + "01" + "3ff8000000000000")
        var r = WireReader(bytes)
        #expect(try r.readInt8("a") == -2)
        #expect(try r.readInt16("b") == 0x0102)
        #expect(try r.readInt32("c") == -2)
        #expect(try r.readInt64("d") == 0x0102_0304_0506_0708)
        #expect(try r.readUInt16("e") == 0xFFFE)
        #expect(try r.readUInt32("f") == 0xDEAD_BEEF)
        #expect(try r.readBool("g"))
        #expect(try r.readFloat64("h") == 1.5)
        #expect(throws: ProtocolError(.truncated(needed: 4, remaining: 0), field: "i")) { _ = try r.readInt32("i") }
    }

    @Test func anyNonZeroByteIsTrue() throws {
        var r = WireReader(ByteBuffer(hex: "00027f"))
        #expect(try r.readBool("a") == false)
        #expect(try r.readBool("b"))
        #expect(try r.readBool("c"))
    }

    @Test func stringsClassicAndCompactNullAndEmpty() throws {
        #expect(try written { try $0.writeString("héllo", compact: false, "s") }.hexString == "000668c3a96c6c6f")
        #expect(try written { try $0.writeString("héllo", compact: true, "s") }.hexString == "0768c3a96c6c6f")
        #expect(try written { try $0.writeString("", compact: false, "s") }.hexString == "0000")
        #expect(try written { try $0.writeString("", compact: true, "s") }.hexString == "01")
        #expect(try written { try $0.writeNullableString(nil, compact: false, "s") }.hexString == "ffff")
        #expect(try written { try $0.writeNullableString(nil, compact: true, "s") }.hexString == "00")

        var r = WireReader(ByteBuffer(hex: "0000" + "ffff" + "01" + "00" + "000161"))
        #expect(try r.readNullableString(compact: false, "a") == "")
        #expect(try r.readNullableString(compact: false, "b") == nil)
        #expect(try r.readNullableString(compact: true, "c") == "")
        #expect(try r.readNullableString(compact: true, "d") == nil)
        #expect(try r.readString(compact: false, "e") == "a")
        var nulls = WireReader(ByteBuffer(hex: "ffff"))
        #expect(throws: ProtocolError(.unexpectedNull, field: "T.Name")) { _ = try nulls.readString(compact: false, "T.Name") }
    }

    @Test func bytesClassicAndCompactNullAndEmpty() throws {
        let payload = ByteBuffer(hex: "0102")
        #expect(try written { try $0.writeBytes(payload, compact: false, "b") }.hexString == "000000020102")
        #expect(try written { try $0.writeBytes(payload, compact: true, "b") }.hexString == "030102")
        #expect(try written { try $0.writeNullableBytes(nil, compact: false, "b") }.hexString == "ffffffff")
        #expect(try written { try $0.writeNullableBytes(nil, compact: true, "b") }.hexString == "00")
        #expect(try written { try $0.writeNullableBytes(ByteBuffer(), compact: false, "b") }.hexString == "00000000")
        #expect(try written { try $0.writeNullableBytes(ByteBuffer(), compact: true, "b") }.hexString == "01")

        var r = WireReader(ByteBuffer(hex: "00000000" + "ffffffff" + "01" + "00"))
        #expect(try r.readNullableBytes(compact: false, "a") == ByteBuffer())
        #expect(try r.readNullableBytes(compact: false, "b") == nil)
        #expect(try r.readNullableBytes(compact: true, "c") == ByteBuffer())
        #expect(try r.readNullableBytes(compact: true, "d") == nil)
    }

    @Test func arrayCountsClassicAndCompactNullAndEmpty() throws {
        #expect(try written { try $0.writeArrayCount(2, compact: false, "a") }.hexString == "00000002")
        #expect(try written { try $0.writeArrayCount(2, compact: true, "a") }.hexString == "03")
        #expect(try written { try $0.writeNullableArrayCount(nil, compact: false, "a") }.hexString == "ffffffff")
        #expect(try written { try $0.writeNullableArrayCount(nil, compact: true, "a") }.hexString == "00")
        #expect(try written { try $0.writeArrayCount(0, compact: true, "a") }.hexString == "01")

        var r = WireReader(ByteBuffer(hex: "ffffffff" + "00000000" + "00" + "01"))
        #expect(try r.readNullableArrayCount(compact: false, minElementSize: 4, "a") == nil)
        #expect(try r.readNullableArrayCount(compact: false, minElementSize: 4, "b") == 0)
        #expect(try r.readNullableArrayCount(compact: true, minElementSize: 4, "c") == nil)
        #expect(try r.readNullableArrayCount(compact: true, minElementSize: 4, "d") == 0)
    }

    @Test func classicStringLongerThanInt16IsRefused() {
        let long = String(repeating: "x", count: Int(Int16.max) + 1)
        #expect(throws: ProtocolError(.valueTooLong(length: 32768, limit: 32767), field: "T.Name")) {
            _ = try written { try $0.writeString(long, compact: false, "T.Name") }
        }
        #expect((try? written { try $0.writeString(long, compact: true, "T.Name") })?.readableBytes == 32768 + 3)
    }

    @Test func uuidIsSixteenBigEndianBytesAndPrintsAsKafkaDoes() throws {
        let id = Uuid(mostSignificantBits: 0x0102_0304_0506_0708, leastSignificantBits: 0x090A_0B0C_0D0E_0F10)
        let bytes = written { $0.writeUuid(id) }
        #expect(bytes.hexString == "0102030405060708090a0b0c0d0e0f10")
        var r = WireReader(bytes)
        #expect(try r.readUuid("id") == id)
        #expect(Uuid.zero.description == "AAAAAAAAAAAAAAAAAAAAAA")
        #expect(id.description == "AQIDBAUGBwgJCgsMDQ4PEA")
        #expect(Uuid(base64: id.description) == id)
        #expect(Uuid(base64: "too short") == nil)
        var g = Gen(seed: 7)
        let random = Uuid.random(using: &g)
        #expect(Uuid(base64: random.description) == random)
    }

    @Test func taggedFieldsSkipUnknownTagsAndKeepKnownOnes() throws {
        // Two tags: 0 (int32 7) and 9 (three opaque bytes), then a trailing int16.
        var w = WireWriter()
        w.writeUnsignedVarint(2)
        try w.writeTaggedField(tag: 0) { (t: inout WireWriter) throws(ProtocolError) in t.writeInt32(7) }
        try w.writeTaggedField(tag: 9) { (t: inout WireWriter) throws(ProtocolError) in t.buffer.writeBytes([1, 2, 3]) }
        w.writeInt16(42)
        #expect(w.buffer.hexString == "02" + "000400000007" + "0903010203" + "002a")

        var r = WireReader(w.buffer)
        var seen: [UInt32: Int32] = [:]
        try r.readTaggedFields("T._tagged") { (tag: UInt32, v: inout WireReader) throws(ProtocolError) in
            if tag == 0 { seen[tag] = try v.readInt32("T.Known") }
        }
        #expect(seen == [0: 7])
        #expect(try r.readInt16("T.After") == 42)
    }

    @Test func taggedFieldSizeBeyondTheFrameIsAnError() {
        var r = WireReader(ByteBuffer(hex: "01" + "00" + "7f" + "0000"))
        #expect(throws: ProtocolError(.lengthExceedsRemaining(claimed: 127, remaining: 2), field: "T._tagged")) {
            try r.skipTaggedFields("T._tagged")
        }
    }

    @Test func errorCodesCarryKafkasNamesAndUnknownCodesSurvive() {
        #expect(ErrorCode.unknownTopicOrPartition.rawValue == 3)
        #expect(ErrorCode.unknownTopicOrPartition.name == "UNKNOWN_TOPIC_OR_PARTITION")
        #expect(ErrorCode.unsupportedVersion.rawValue == 35)
        #expect(ErrorCode.nonEmptyGroup.rawValue == 68)
        #expect(ErrorCode.unknownServerError.rawValue == -1)
        #expect(ErrorCode(rawValue: 9999).name == nil)
        #expect("\(ErrorCode.notCoordinator)" == "NOT_COORDINATOR(16)")
        #expect(ErrorCode.allKnown.count >= 128)
        #expect(Set(ErrorCode.allKnown.map(\.rawValue)).count == ErrorCode.allKnown.count)
    }
}
