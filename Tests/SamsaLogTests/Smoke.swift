import Testing
@testable import SamsaLog
@Test func builds() { #expect(Bool(true)) }
