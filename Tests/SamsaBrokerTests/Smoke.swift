import Testing
@testable import SamsaBroker
@Test func builds() { #expect(Bool(true)) }
