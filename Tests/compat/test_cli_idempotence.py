"""The idempotent producer (`enable.idempotence=true`): InitProducerId, then a producer id, epoch and per-partition
sequence numbers in every batch, checked in the broker's segment files with `samsa dump-log` and read back with
confluent-kafka; settings Kafka refuses with idempotence are refused with its messages."""
import glob
import os
import re

import pytest
from confluent_kafka import Consumer as KafkaConsumer, TopicPartition

from test_cli_support import create_topic, produce_lines, samsa, unique

BATCH_LINE = re.compile(r"baseOffset: (\d+) lastOffset: (\d+) count: (\d+) baseSequence: (-?\d+) lastSequence: (-?\d+) "
                        r"producerId: (-?\d+) producerEpoch: (-?\d+)")


def batches_on_disk(broker, topic, partition):
    files = sorted(glob.glob(os.path.join(broker.data_dir, f"{topic}-{partition}", "*.log")))
    assert files
    out = samsa(broker, "dump-log", "--files", ",".join(files)).stdout
    return [tuple(int(x) for x in m.groups()) for m in BATCH_LINE.finditer(out)]


def read_values(broker, topic, partitions, expected):
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("idem-check"),
                              "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])
    got = []
    try:
        for _ in range(200):
            got += [m for m in consumer.consume(num_messages=1000, timeout=0.2) if m.error() is None]
            if len(got) >= expected:
                break
    finally:
        consumer.close()
    return got


def assert_idempotent_batches(batches):
    assert batches
    pids = {b[5] for b in batches}
    assert len(pids) == 1 and min(pids) >= 0, batches
    assert {b[6] for b in batches} == {0} or min(b[6] for b in batches) >= 0
    # Sequences run from 0, one per record, without gaps, in offset order.
    expected_seq = 0
    for base, last, count, base_seq, last_seq, _, _ in batches:
        assert base_seq == expected_seq, batches
        assert last_seq == base_seq + count - 1
        expected_seq += count


def test_console_producer_with_idempotence_stamps_sequences(broker):
    topic = unique("idem-console")
    create_topic(broker, topic, 2)
    lines = [f"key-{i % 7}:value {i}" for i in range(500)]
    produce_lines(broker, topic, lines, "--producer-property", "enable.idempotence=true", "--property",
                  "parse.key=true", "--property", "key.separator=:", "--batch-size", 2048)
    got = read_values(broker, topic, 2, len(lines))
    assert sorted(m.value().decode() for m in got) == sorted(line.split(":", 1)[1] for line in lines)
    pids = set()
    for p in range(2):
        batches = batches_on_disk(broker, topic, p)
        assert_idempotent_batches(batches)
        assert len(batches) > 1  # several batches per partition: the sequence carries on across them
        pids |= {b[5] for b in batches}
    assert len(pids) == 1  # one producer id for the whole producer


def test_without_idempotence_batches_carry_no_producer_id(broker):
    topic = unique("idem-off")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, ["a", "b", "c"])
    for batch in batches_on_disk(broker, topic, 0):
        assert batch[3] == -1 and batch[5] == -1


def test_two_idempotent_producers_get_different_ids(broker):
    topic = unique("idem-two")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, ["one"], "--producer-property", "enable.idempotence=true")
    produce_lines(broker, topic, ["two"], "--producer-property", "enable.idempotence=true")
    batches = batches_on_disk(broker, topic, 0)
    assert len(batches) == 2
    assert batches[0][5] != batches[1][5] or batches[0][6] != batches[1][6]
    assert batches[0][3] == batches[1][3] == 0


def test_producer_perf_test_with_idempotence(broker):
    topic = unique("idem-perf")
    create_topic(broker, topic, 3)
    samsa(broker, "producer-perf-test", "--topic", topic, "--num-records", 20000, "--record-size", 100,
          "--throughput", -1, "--producer-props", f"bootstrap.servers={broker.bootstrap}", "enable.idempotence=true",
          "acks=all", timeout=120)
    total = 0
    for p in range(3):
        batches = batches_on_disk(broker, topic, p)
        assert_idempotent_batches(batches)
        total += sum(b[2] for b in batches)
    assert total == 20000


@pytest.mark.parametrize("props, message", [
    (["enable.idempotence=true", "acks=1"], "must be all (-1) in order to use the idempotent producer"),
    (["enable.idempotence=true", "max.in.flight.requests.per.connection=6"], "must be at most 5"),
    (["enable.idempotence=true", "retries=0"], "must be above 0"),
    (["enable.idempotence=maybe"], "expected true or false"),
])
def test_idempotence_conflicting_settings_are_refused(broker, props, message):
    args = []
    for p in props:
        args += ["--producer-property", p]
    proc = samsa(broker, "console-producer", "--bootstrap-server", broker.bootstrap, "--topic", "t", *args,
                 stdin="x\n", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
