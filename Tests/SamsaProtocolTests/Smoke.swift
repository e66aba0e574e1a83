import Testing
@testable import SamsaProtocol
@Test func builds() { #expect(Bool(true)) }
