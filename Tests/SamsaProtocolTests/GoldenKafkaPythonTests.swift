import NIOCore
import Testing
@testable import SamsaProtocol

/// Bytes encoded by kafka-python (an independent implementation of Kafka's message definitions), at every
/// version Samsa supports: each decodes to the values kafka-python was given, and re-encodes byte for byte.
@Suite struct GoldenKafkaPythonTests {
    @Test func everyMessageAndVersionHasAVector() {
        var expected = 0
        for message in allMessageCases { expected += message.versions.count }
        #expect(kafkaPythonVectors.count == expected)
    }

    @Test(arguments: kafkaPythonVectors)
    func vectorDecodesToKafkaPythonsFieldsAndReencodesIdentically(_ vector: KafkaPythonVector) throws {
        let message = try #require(messageCasesByName[vector.message])
        let bytes = ByteBuffer(hex: vector.hex)
        let result = try message.golden(bytes, vector.version)
        #expect(result.canonical == vector.fields)
        #expect(result.leftover == 0)
        #expect(result.reencoded.hexString == vector.hex)
    }
}
