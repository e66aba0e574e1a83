"""`samsa replay --bootstrap-server`: a Kafka-format fixture log produced into a running broker, batch for batch,
then read back with confluent-kafka (librdkafka) and kcat and compared with the fixture's manifest."""
import base64
import hashlib
import json
import os
import subprocess

import pytest
from confluent_kafka import Consumer as KafkaConsumer, TopicPartition

from test_cli_support import create_topic, samsa, unique

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fixtures")


def manifest(name):
    with open(os.path.join(FIXTURES, name, "manifest.json")) as f:
        return json.load(f)


def partition_dir(name):
    m = manifest(name)
    return os.path.join(FIXTURES, name, f"{m['topic']}-{m['partition']}")


def expected_records(m):
    """(offset, key, value or (len, sha256), headers, timestamp) for every data record of the manifest."""
    out = []
    for batch in m["batches"]:
        if batch["control"]:
            continue
        for r in batch["records"]:
            key = None if r.get("key_b64") is None else base64.b64decode(r["key_b64"])
            if "value_sha256" in r:
                value = (r["value_len"], r["value_sha256"])
            else:
                value = None if r.get("value_b64") is None else base64.b64decode(r["value_b64"])
            headers = [(k, None if v is None else base64.b64decode(v)) for k, v in r.get("headers", [])]
            out.append((r["offset"], key, value, headers, r["timestamp"]))
    return out


def read_all(broker, topic, expected):
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("replay-check"),
                              "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    consumer.assign([TopicPartition(topic, 0, -2)])
    got = []
    try:
        for _ in range(300):
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                assert message.error() is None, message.error()
                got.append(message)
            if len(got) >= expected:
                break
    finally:
        consumer.close()
    return got


def as_tuple(message):
    value = message.value()
    return (message.offset(), message.key(), value, [(k, v) for k, v in (message.headers() or [])],
            message.timestamp()[1])


def replay(broker, name, topic, *extra):
    return samsa(broker, "replay", partition_dir(name), "--bootstrap-server", broker.bootstrap, "--topic", topic,
                 *extra, timeout=120)


@pytest.mark.parametrize("name", ["gzip", "lz4", "zstd", "snappy-xerial", "none-multiseg", "mixed-codecs",
                                  "compact-keys", "idempotent"])
def test_replay_into_broker_then_librdkafka_reads_the_manifest(broker, name):
    m = manifest(name)
    topic = unique(f"replay-{name}")
    create_topic(broker, topic, 1)
    proc = replay(broker, name, topic)
    expected = expected_records(m)
    assert f"{len(m['batches'])} batches, {len(expected)} records" in proc.stdout
    assert "(unchanged)" in proc.stdout  # an empty partition: the broker gives the source's own offsets

    got = [as_tuple(msg) for msg in read_all(broker, topic, len(expected))]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(e[2], tuple):  # a big value, by length and digest
            g = (g[0], g[1], (len(g[2]), hashlib.sha256(g[2]).hexdigest()), g[3], g[4])
        assert g == e


def test_replay_into_broker_then_kcat_reads_the_same_records(broker):
    name = "gzip"
    m = manifest(name)
    topic = unique("replay-kcat")
    create_topic(broker, topic, 1)
    replay(broker, name, topic)
    expected = expected_records(m)
    out = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e",
                          "-q", "-f", "%o\t%T\t%k\t%s\n"], capture_output=True, timeout=60, check=True).stdout
    lines = out.decode().splitlines()
    assert len(lines) == len(expected)
    for line, (offset, key, value, _, ts) in zip(lines, expected):
        assert line == f"{offset}\t{ts}\t{(key or b'').decode()}\t{(value or b'').decode()}"


def test_replay_json_report_and_second_replay_appends(broker):
    name = "lz4"
    m = manifest(name)
    topic = unique("replay-json")
    create_topic(broker, topic, 1)
    replay(broker, name, topic)
    report = json.loads(replay(broker, name, topic, "--json").stdout)
    (partition,) = report["partitions"]
    n = len(expected_records(m))
    assert report["error"] is None and partition["records"] == n and partition["batches"] == len(m["batches"])
    # The second copy follows the first: the broker assigns the offsets.
    assert partition["brokerFirstOffset"] == m["log_end_offset"]
    assert partition["brokerLastOffset"] == 2 * m["log_end_offset"] - 1
    assert len(read_all(broker, topic, 2 * n)) == 2 * n


def test_replay_transactions_skips_control_batches(broker):
    name = "transactions"
    m = manifest(name)
    topic = unique("replay-txn")
    create_topic(broker, topic, 1)
    proc = samsa(broker, "replay", partition_dir(name), "--bootstrap-server", broker.bootstrap, "--topic", topic,
                 check=False, timeout=120)
    controls = sum(b["control"] for b in m["batches"])
    assert f"skipped {controls} control batches" in proc.stdout + proc.stderr


def test_replay_into_a_missing_topic_fails_clearly(broker):
    topic = unique("replay-missing")
    proc = samsa(broker, "replay", partition_dir("gzip"), "--bootstrap-server", broker.bootstrap, "--topic", topic,
                 check=False, timeout=60)
    assert proc.returncode != 0
    assert topic in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--bootstrap-server", "127.0.0.1:1"], "--bootstrap-server needs --topic"),
    (["--topic", "t"], "--topic and --partition go with --bootstrap-server"),
    (["--bootstrap-server", "127.0.0.1:1", "--topic", "t", "--verify"], "they do not go with --bootstrap-server"),
    (["--bootstrap-server", "127.0.0.1:1", "--topic", "t", "--max-in-flight", "0"], "--max-in-flight must be between"),
])
def test_replay_wrong_flags(broker, args, message):
    proc = samsa(broker, "replay", partition_dir("gzip"), *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
