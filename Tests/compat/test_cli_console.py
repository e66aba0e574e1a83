"""`samsa console-producer` and `console-consumer` against a running broker, cross-checked with confluent-kafka
(librdkafka) and kafka-python's murmur2: what samsa writes they read byte for byte, and the other way round."""
import pytest
from confluent_kafka import Consumer as KafkaConsumer, Producer as KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2

from test_cli_support import consume, create_topic, one_line_error, produce_lines, samsa, unique

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kafka_partition(key: bytes, count: int) -> int:
    """Java's (and librdkafka's murmur2_random) partition for a key."""
    return (murmur2(key) & 0x7FFFFFFF) % count


def read_with_librdkafka(broker, topic, partitions, expected):
    """Reads `expected` records from every partition from the beginning with confluent-kafka (no group)."""
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("unused"),
                              "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])
    records = []
    try:
        for _ in range(200):
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                assert message.error() is None, message.error()
                records.append(message)
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


@pytest.mark.parametrize("codec", CODECS)
def test_keyed_records_land_where_kafka_puts_them_and_librdkafka_reads_them_back(broker, codec):
    topic = unique(f"keyed-{codec}")
    create_topic(broker, topic, 6)
    pairs = [(f"user-{i}", f"value {i} " + "x" * (i % 50)) for i in range(300)]
    produce_lines(broker, topic, [f"{k}:{v}" for k, v in pairs], "--property", "parse.key=true",
                  "--property", "key.separator=:", "--compression-codec", codec)

    records = read_with_librdkafka(broker, topic, 6, len(pairs))
    assert len(records) == len(pairs)
    by_key = {m.key(): m for m in records}
    for key, value in pairs:
        message = by_key[key.encode()]
        assert message.value() == value.encode()
        assert message.partition() == kafka_partition(key.encode(), 6)
    # Per partition, offsets are dense from 0 and records keep their send order.
    for p in range(6):
        offsets = [m.offset() for m in records if m.partition() == p]
        assert offsets == list(range(len(offsets)))
        keys = [m.key().decode() for m in sorted((m for m in records if m.partition() == p), key=lambda m: m.offset())]
        assert keys == [k for k, _ in pairs if kafka_partition(k.encode(), 6) == p]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_records_from_librdkafka_print_exactly(broker, codec):
    topic = unique(f"from-rdkafka-{codec}")
    create_topic(broker, topic, 3)
    producer = KafkaProducer({"bootstrap.servers": broker.bootstrap, "compression.type": codec,
                              "partitioner": "murmur2_random", "linger.ms": 5})
    sent = []
    for i in range(200):
        key, value = f"k{i}".encode(), f"v{i}-é-{'y' * (i % 17)}".encode()
        producer.produce(topic, key=key, value=value, headers=[("h", f"{i}".encode())], timestamp=1_700_000_000_000 + i)
        sent.append((key, value, i))
    assert producer.flush(30) == 0

    out = consume(broker, topic, "--from-beginning", "--property", "print.key=true", "--property",
                  "print.partition=true", "--property", "print.offset=true", "--property", "print.timestamp=true",
                  "--property", "print.headers=true", max_messages=200).stdout
    lines = out.splitlines()
    assert len(lines) == 200
    seen = {}
    for line in lines:
        ts, part, offset, headers, key, value = line.split("\t")
        seen[key] = (ts, int(part.removeprefix("Partition:")), int(offset.removeprefix("Offset:")), headers, value)
    for key, value, i in sent:
        ts, part, offset, headers, printed = seen[key.decode()]
        assert printed == value.decode()
        assert ts == f"CreateTime:{1_700_000_000_000 + i}"
        assert headers == f"h:{i}"
        assert part == kafka_partition(key, 3), "samsa's murmur2 and librdkafka's murmur2_random agree"


def test_offset_and_partition_start_where_asked(broker):
    topic = unique("seek")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, [f"line {i}" for i in range(10)])
    out = consume(broker, topic, "--partition", 0, "--offset", 7, "--property", "print.offset=true").stdout
    assert out.splitlines() == ["Offset:7\tline 7", "Offset:8\tline 8", "Offset:9\tline 9"]
    earliest = consume(broker, topic, "--partition", 0, "--offset", "earliest", max_messages=2).stdout
    assert earliest.splitlines() == ["line 0", "line 1"]
    latest = consume(broker, topic, "--partition", 0, "--offset", "latest", timeout_ms=1000)
    assert latest.stdout == ""
    assert "Processed a total of 0 messages" in latest.stderr


def test_without_from_beginning_only_new_records_are_read(broker):
    topic = unique("tail")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, ["old"])
    proc = consume(broker, topic, timeout_ms=1500)
    assert proc.stdout == ""
    assert proc.returncode == 0


def test_max_messages_stops_and_reports_the_total(broker):
    topic = unique("max")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, [str(i) for i in range(50)])
    proc = consume(broker, topic, "--from-beginning", max_messages=7, timeout_ms=None)
    assert proc.stdout.splitlines() == [str(i) for i in range(7)]
    assert proc.stderr.splitlines()[-1] == "Processed a total of 7 messages"
    assert "\r" not in proc.stderr, "no progress line when piped"


def test_headers_null_marker_and_custom_separators(broker):
    topic = unique("parse")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, ["a:1,b:NULL|key1|value1", "NULL|NULL|NULL"],
                  "--property", "parse.headers=true", "--property", "parse.key=true",
                  "--property", "headers.delimiter=|", "--property", "key.separator=|",
                  "--property", "null.marker=NULL")
    out = consume(broker, topic, "--from-beginning", "--property", "print.key=true", "--property",
                  "print.headers=true", "--property", "key.separator= / ", max_messages=2).stdout
    assert out.splitlines() == ["a:1,b:null / key1 / value1", "NO_HEADERS / null / null"]


def test_a_line_without_the_key_separator_fails_naming_the_line(broker):
    topic = unique("badline")
    create_topic(broker, topic, 1)
    proc = samsa(broker, "console-producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                 "--property", "parse.key=true", "--property", "key.separator=:",
                 stdin="good:1\nno separator here\n", check=False)
    line = one_line_error(proc)
    assert "No key separator found on line number 2: 'no separator here'" in line


def test_broker_list_is_accepted_and_compression_codec_without_value_is_gzip(broker):
    topic = unique("legacy")
    create_topic(broker, topic, 1)
    samsa(broker, "console-producer", "--broker-list", broker.bootstrap, "--topic", topic, "--compression-codec",
          stdin="zipped\n")
    records = read_with_librdkafka(broker, topic, 1, 1)
    assert [m.value() for m in records] == [b"zipped"]


def test_sync_mode_sends_each_line(broker):
    topic = unique("sync")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, ["one", "two", "three"], "--sync", "--request-required-acks", "1")
    assert consume(broker, topic, "--from-beginning", max_messages=3).stdout.splitlines() == ["one", "two", "three"]


def test_group_reads_and_commits_then_resumes(broker):
    topic, group = unique("group"), unique("g")
    create_topic(broker, topic, 2)
    produce_lines(broker, topic, [f"m{i}" for i in range(10)])
    first = consume(broker, topic, "--group", group, "--from-beginning", max_messages=4).stdout.splitlines()
    rest = consume(broker, topic, "--group", group, timeout_ms=3000).stdout.splitlines()
    assert len(first) == 4 and len(rest) == 6
    assert sorted(first + rest) == sorted(f"m{i}" for i in range(10))


def test_include_reads_every_matching_topic(broker):
    prefix = unique("inc")
    for name in ["a", "b"]:
        create_topic(broker, f"{prefix}-{name}", 1)
        produce_lines(broker, f"{prefix}-{name}", [f"from {name}"])
    out = samsa(broker, "console-consumer", "--bootstrap-server", broker.bootstrap, "--include", f"{prefix}-.*",
                "--from-beginning", "--max-messages", 2, "--timeout-ms", 5000).stdout
    assert sorted(out.splitlines()) == ["from a", "from b"]


def test_producing_to_an_unreachable_broker_fails_with_one_line(broker):
    proc = samsa(broker, "console-producer", "--bootstrap-server", "127.0.0.1:1", "--topic", "t",
                 "--max-block-ms", 2000, stdin="x\n", check=False, timeout=90)
    assert "127.0.0.1:1" in one_line_error(proc)
