import Testing
@testable import SamsaLog
@Test func builds() { #expect(CompressionCodec(name: "LZ4") == .lz4) }
