import SamsaLog
import Testing

@testable import SamsaBroker

@Suite struct JavaPropertiesTests {
    @Test func readsSeparatorsCommentsContinuationsAndEscapes() throws {
        let text = """
            # a comment
            ! another
            a=1
              b : 2
            c 3
            d = four \\
                and more
            e=tab\\there\\u0041
            f\\=g=h
            empty=
            \r
            """
        let entries = try JavaProperties.parse(text)
        let map = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        #expect(map == ["a": "1", "b": "2", "c": "3", "d": "four and more", "e": "tab\there" + "A", "f=g": "h", "empty": ""])
        #expect(entries.first { $0.key == "c" }?.line == 5)
    }

    @Test func formatThenParseIsTheIdentity() throws {
        let entries: [(key: String, value: String)] = [
            ("plain", "value"), ("with space", " leading"), ("colon:key", "a=b"), ("nl", "x\ny"), ("hash", "#not a comment"),
            ("unicode", "zoë ✓"), ("backslash", "C:\\dir\\"),
        ]
        let parsed = try JavaProperties.parse(JavaProperties.format(entries))
        #expect(parsed.map(\.key) == entries.map(\.key))
        #expect(parsed.map(\.value) == entries.map(\.value))
    }

    /// Found by the server_properties fuzz target: a value starting with a combining mark (U+06E0, written
    /// `\u06e0`) was formatted as `key=\u{6E0}...`, where `=` and the mark are one Swift `Character`, so the
    /// parser (then walking Characters) found no separator. It now walks Unicode scalars, as Java walks chars.
    @Test func separatorsAndLineEndsAreScalarsNotGraphemes() throws {
        let entries = [(key: "es", value: "\u{6E0}e9\t:"), (key: "k\u{301}", value: "\u{301}v")]
        let parsed = try JavaProperties.parse(JavaProperties.format(entries))
        #expect(parsed.map(\.key) == ["es", "k\u{301}"])
        #expect(parsed.map(\.value) == ["\u{6E0}e9\t:", "\u{301}v"])
        // "\r\n" is one Character in Swift; Windows line ends still end lines.
        let crlf = try JavaProperties.parse("a=1\r\nb=2\r\n")
        #expect(crlf.map(\.key) == ["a", "b"] && crlf.map(\.value) == ["1", "2"])
        #expect(try JavaProperties.parse("x=\\u00e9\\u0041").first?.value == "\u{E9}A")
        #expect(throws: ConfigError.self) { _ = try JavaProperties.parse("x=\\u+123\n") }
    }

    @Test func malformedUnicodeEscapeNamesTheLine() {
        #expect(throws: ConfigError.self) { _ = try JavaProperties.parse("ok=1\nbad=\\u12G4\n") }
    }
}

@Suite struct BrokerConfigTests {
    @Test func defaultsMatchTheBrief() throws {
        let config = try BrokerConfig(properties: [:])
        #expect(config.listeners == [Listener(name: "PLAINTEXT", host: "127.0.0.1", port: 9092)])
        #expect(config.advertisedListeners == config.listeners)
        #expect(config.logDirectory == "./data")
        #expect(config.autoCreateTopics)
        #expect(config.socketRequestMaxBytes == 104_857_600)
        #expect(config.logDefaults == LogConfig())
    }

    @Test func brokerLogKeysBecomeTopicDefaults() throws {
        let config = try BrokerConfig(properties: [
            "log.segment.bytes": "1048576", "log.retention.bytes": "5000", "log.cleanup.policy": "compact",
            "message.max.bytes": "2000000", "log.flush.interval.messages": "10", "log.flush.interval.ms": "500",
            "log.index.interval.bytes": "8192", "log.roll.hours": "2", "log.message.timestamp.type": "LogAppendTime",
        ])
        let d = config.logDefaults
        #expect(d.segmentBytes == 1_048_576)
        #expect(d.retentionBytes == 5000)
        #expect(d.cleanupPolicy == .compact)
        #expect(d.maxMessageBytes == 2_000_000)
        #expect(d.flushMessages == 10)
        #expect(d.flushMs == 500)
        #expect(d.indexIntervalBytes == 8192)
        #expect(d.segmentMs == 2 * 3_600_000)
        #expect(d.messageTimestampType == .logAppendTime)
    }

    @Test func retentionPrefersMillisecondsThenMinutesThenHours() throws {
        #expect(try BrokerConfig(properties: ["log.retention.hours": "1"]).logDefaults.retentionMs == 3_600_000)
        #expect(try BrokerConfig(properties: ["log.retention.hours": "1", "log.retention.minutes": "2"]).logDefaults.retentionMs == 120_000)
        #expect(try BrokerConfig(properties: ["log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "3"]).logDefaults.retentionMs == 3)
        #expect(try BrokerConfig(properties: ["log.retention.hours": "-1"]).logDefaults.retentionMs == -1)
    }

    @Test func badValuesNameTheirKey() {
        for (key, value) in [
            ("num.partitions", "0"), ("log.segment.bytes", "big"), ("auto.create.topics.enable", "yes"),
            ("message.max.bytes", "-1"), ("log.cleanup.policy", "shred"), ("socket.request.max.bytes", "0"),
            ("log.retention.hours", "x"), ("node.id", "-3"), ("listeners", "127.0.0.1:9092"),
            ("default.replication.factor", "3"), ("log.dirs", "/a,/b"),
        ] {
            do {
                _ = try BrokerConfig(properties: [key: value])
                Issue.record("\(key)=\(value) was accepted")
            } catch {
                #expect(error.key == key, "\(key)=\(value): \(error)")
                #expect(error.description.contains(key))
            }
        }
    }

    @Test func unknownKeysAreWarnedAboutAndKafkaOnlyKeysAccepted() throws {
        let config = try BrokerConfig(properties: ["frobnicate": "1", "num.recovery.threads.per.data.dir": "1", "zookeeper.connect": "x:2181"])
        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.contains("frobnicate") == true)
        #expect(config.ignoredKeys.sorted() == ["num.recovery.threads.per.data.dir", "zookeeper.connect"])
    }

    @Test func listenersAdvertisedListenersAndControllerListeners() throws {
        let kraft = try BrokerConfig(properties: [
            "process.roles": "broker,controller", "node.id": "1",
            "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
            "advertised.listeners": "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ])
        #expect(kraft.listeners == [Listener(name: "PLAINTEXT", host: "", port: 9092)])
        #expect(kraft.advertisedListeners == [Listener(name: "PLAINTEXT", host: "localhost", port: 9092)])
        let ipv6 = try BrokerConfig(properties: ["listeners": "PLAINTEXT://[::1]:9000"])
        #expect(ipv6.listeners.first?.host == "::1")
        #expect(ipv6.listeners.first?.description == "PLAINTEXT://[::1]:9000")
        #expect(throws: ConfigError.self) { _ = try BrokerConfig(properties: ["listeners": "SSL://127.0.0.1:9093"]) }
        #expect(throws: ConfigError.self) { _ = try BrokerConfig(properties: ["listeners": "PLAINTEXT://0.0.0.0:9092"]) }
        let wildcard = try BrokerConfig(properties: ["listeners": "PLAINTEXT://0.0.0.0:9092", "advertised.listeners": "PLAINTEXT://h:1"])
        #expect(wildcard.advertisedListeners.first == Listener(name: "PLAINTEXT", host: "h", port: 1))
    }

    @Test func nodeIdAndBrokerIdMustAgree() throws {
        #expect(try BrokerConfig(properties: ["broker.id": "5"]).nodeId == 5)
        #expect(throws: ConfigError.self) { _ = try BrokerConfig(properties: ["broker.id": "5", "node.id": "6"]) }
    }

    @Test func overridesReplaceFileValues() throws {
        let config = try BrokerConfig(entries: [("num.partitions", "2"), ("num.partitions", "3")])
        #expect(config.numPartitions == 3)
        #expect(throws: ConfigError.self) { _ = try BrokerConfig.load(path: nil, overrides: ["novalue"]) }
        let loaded = try BrokerConfig.load(path: nil, overrides: ["num.partitions=6", "log.dirs=/tmp/x"])
        #expect(loaded.numPartitions == 6)
        #expect(loaded.logDirectory == "/tmp/x")
    }

    @Test func missingFileIsAClearError() {
        do {
            _ = try BrokerConfig.load(path: "/nonexistent/server.properties")
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.description.contains("/nonexistent/server.properties"))
        }
    }
}
