"""Consumer groups through real clients: subscribe, read, commit, resume from the committed offsets after a broker
restart, split partitions between the members of one group; and idempotent producing (InitProducerId)."""
import asyncio
import os
import re
import subprocess
import sys
import time
import uuid

import aiokafka
import kafka
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import check_records, consume_confluent, create_topic, make_records, produce_confluent

# No initial rebalance delay (a new group forms at once) and a small __consumer_offsets, so the tests stay quick.
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}


def group_name():
    return "g-" + uuid.uuid4().hex[:12]


def confluent_group_consumer(broker, group, **extra):
    config = {"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    config.update(extra)
    return Consumer(config)


def poll_records(consumer, count, timeout=30, settle=0.0):
    """Records from a subscribed confluent consumer until `count` arrived; then `settle` seconds more, to see
    that nothing else comes. Returns [(partition, offset, key, value, headers, timestamp)]."""
    out = []
    deadline = time.time() + timeout
    while len(out) < count and time.time() < deadline:
        for m in consumer.consume(num_messages=1000, timeout=0.5):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(m.error())
            out.append((m.partition(), m.offset(), m.key(), m.value(), [(k, v) for k, v in (m.headers() or [])],
                        m.timestamp()[1]))
    end = time.time() + settle
    while time.time() < end:
        for m in consumer.consume(num_messages=1000, timeout=0.2):
            if not m.error():
                out.append((m.partition(), m.offset(), m.key(), m.value(), [], m.timestamp()[1]))
    return out


def end_offsets(records, partitions):
    return {p: sum(1 for r in records if r["partition"] == p) for p in range(partitions)}


def test_confluent_group_reads_commits_and_resumes_after_a_restart(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 3)
    first = make_records(90, 3, seed=21)
    produce_confluent(broker.bootstrap, topic, first)
    group = group_name()

    c = confluent_group_consumer(broker, group)
    c.subscribe([topic])
    try:
        check_records(poll_records(c, len(first)), first, 3)
        assert sorted(tp.partition for tp in c.assignment()) == [0, 1, 2]
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert {tp.partition: tp.offset for tp in committed} == end_offsets(first, 3)
    finally:
        c.close()

    assert broker.stop() == 0
    broker.start()
    second = make_records(30, 3, seed=22)
    produce_confluent(broker.bootstrap, topic, second)

    # A new member of the same group starts where the first left off: only the records produced since.
    c = confluent_group_consumer(broker, group)
    c.subscribe([topic])
    try:
        got = poll_records(c, len(second), settle=1.0)
        assert len(got) == len(second), f"got {len(got)} records, expected only the {len(second)} new ones"
        ends = end_offsets(first, 3)
        for p in range(3):
            offsets = sorted(g[1] for g in got if g[0] == p)
            assert offsets == list(range(ends[p], ends[p] + end_offsets(second, 3)[p])), f"partition {p}"
        assert sorted(g[3] for g in got) == sorted(r["value"] for r in second)
        c.commit(asynchronous=False)
    finally:
        c.close()


def test_admin_lists_and_describes_the_group(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 2)
    produce_confluent(broker.bootstrap, topic, make_records(10, 2, seed=23))
    group = group_name()
    c = confluent_group_consumer(broker, group, **{"client.id": "describer"})
    c.subscribe([topic])
    try:
        assert len(poll_records(c, 10)) == 10
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        listed = admin.list_consumer_groups().result(10)
        assert group in [g.group_id for g in listed.valid]
        described = admin.describe_consumer_groups([group])[group].result(10)
        assert str(described.state).endswith("STABLE")
        assert len(described.members) == 1
        member = described.members[0]
        assert member.client_id == "describer"
        assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1]
    finally:
        c.close()


def test_two_members_of_one_group_split_the_partitions(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 4)
    group = group_name()
    a = confluent_group_consumer(broker, group, **{"partition.assignment.strategy": "range"})
    b = confluent_group_consumer(broker, group, **{"partition.assignment.strategy": "range"})
    a.subscribe([topic])
    b.subscribe([topic])
    try:
        # Both poll until the rebalance settles with both in the group.
        deadline = time.time() + 40
        while time.time() < deadline:
            a.poll(0.2)
            b.poll(0.2)
            pa = {tp.partition for tp in a.assignment()}
            pb = {tp.partition for tp in b.assignment()}
            if pa and pb and len(pa) + len(pb) == 4:
                break
        assert pa and pb, f"assignments {pa} and {pb}"
        assert pa.isdisjoint(pb) and pa | pb == {0, 1, 2, 3}
        assert len(pa) == len(pb) == 2

        records = make_records(80, 4, seed=24)
        produce_confluent(broker.bootstrap, topic, records)
        got_a, got_b = [], []
        deadline = time.time() + 30
        while len(got_a) + len(got_b) < len(records) and time.time() < deadline:
            got_a += poll_records(a, 1, timeout=0.3)
            got_b += poll_records(b, 1, timeout=0.3)
        assert {g[0] for g in got_a} <= pa and {g[0] for g in got_b} <= pb
        check_records(got_a + got_b, records, 4)
    finally:
        a.close()
        b.close()


def test_kafka_python_group_consumer_commits_and_resumes(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 2)
    first = make_records(40, 2, seed=25)
    produce_confluent(broker.bootstrap, topic, first)
    group = group_name()

    def consume(count, settle=0.0):
        c = kafka.KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
                                heartbeat_interval_ms=500)
        out = []
        try:
            deadline = time.time() + 30
            while len(out) < count and time.time() < deadline:
                for _, messages in c.poll(timeout_ms=500).items():
                    out += [(m.partition, m.offset, m.value) for m in messages]
            end = time.time() + settle
            while time.time() < end:
                for _, messages in c.poll(timeout_ms=200).items():
                    out += [(m.partition, m.offset, m.value) for m in messages]
            c.commit()
            committed = {p: c.committed(kafka.TopicPartition(topic, p)) for p in range(2)}
        finally:
            c.close()
        return out, committed

    got, committed = consume(len(first))
    assert sorted(g[2] for g in got) == sorted(r["value"] for r in first)
    assert committed == end_offsets(first, 2)

    broker.restart()
    second = make_records(10, 2, seed=26)
    produce_confluent(broker.bootstrap, topic, second)
    got, committed = consume(len(second), settle=1.0)
    assert sorted(g[2] for g in got) == sorted(r["value"] for r in second)
    assert all(g[1] >= end_offsets(first, 2)[g[0]] for g in got)
    assert committed == {p: end_offsets(first, 2)[p] + end_offsets(second, 2)[p] for p in range(2)}


def test_aiokafka_group_consumer_commits_and_resumes(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 2)
    first = make_records(40, 2, seed=27)
    produce_confluent(broker.bootstrap, topic, first)
    group = group_name()

    async def consume(count, settle=0.0):
        c = aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                                      auto_offset_reset="earliest", enable_auto_commit=False,
                                      session_timeout_ms=6000, heartbeat_interval_ms=500)
        await c.start()
        out = []
        try:
            deadline = time.time() + 30
            while len(out) < count and time.time() < deadline:
                for _, messages in (await c.getmany(timeout_ms=500)).items():
                    out += [(m.partition, m.offset, m.value) for m in messages]
            end = time.time() + settle
            while time.time() < end:
                for _, messages in (await c.getmany(timeout_ms=200)).items():
                    out += [(m.partition, m.offset, m.value) for m in messages]
            await c.commit()
            committed = {p: await c.committed(aiokafka.TopicPartition(topic, p)) for p in range(2)}
        finally:
            await c.stop()
        return out, committed

    got, committed = asyncio.run(consume(len(first)))
    assert sorted(g[2] for g in got) == sorted(r["value"] for r in first)
    assert committed == end_offsets(first, 2)

    broker.restart()
    second = make_records(10, 2, seed=28)
    produce_confluent(broker.bootstrap, topic, second)
    got, committed = asyncio.run(consume(len(second), settle=1.0))
    assert sorted(g[2] for g in got) == sorted(r["value"] for r in second)
    assert committed == {p: end_offsets(first, 2)[p] + end_offsets(second, 2)[p] for p in range(2)}


@pytest.mark.parametrize("restart", [False, True], ids=["steady", "broker-restart"])
def test_idempotent_producer_writes_each_record_once(make_broker, topic, restart):
    broker = make_broker()
    create_topic(broker.bootstrap, topic, 2)
    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 30000})
    values = [f"v{i}".encode() for i in range(2000)]

    def produce(chunk):
        for v in chunk:
            p.produce(topic, value=v, partition=int(v[1:]) % 2, on_delivery=lambda err, msg: err and errors.append(err))
            p.poll(0)
        assert p.flush(30) == 0

    produce(values[:1000])
    if restart:
        # The producer keeps its id and sequences across the broker's graceful restart.
        broker.restart()
    produce(values[1000:])
    assert not errors, errors[:3]
    p = None  # librdkafka closes the producer when collected

    got = consume_confluent(broker.bootstrap, topic, 2, len(values))
    assert len(got) == len(values)
    assert sorted(g[3] for g in got) == sorted(values), "every record exactly once"
    for part in (0, 1):
        in_partition = [g for g in got if g[0] == part]
        assert [g[1] for g in sorted(in_partition, key=lambda g: g[1])] == list(range(len(in_partition)))
        # In produce order within a partition.
        assert [int(g[3][1:]) for g in sorted(in_partition, key=lambda g: g[1])] == sorted(int(g[3][1:]) for g in in_partition)

    # The batches on disk carry the producer id InitProducerId gave (one id; epoch 0) and sequences.
    assert broker.stop() == 0
    segment = os.path.join(broker.data_dir, f"{topic}-0", "00000000000000000000.log")
    dump = subprocess.run([broker.bin, "dump-log", "--files", segment], capture_output=True, text=True, check=True).stdout
    ids = set(re.findall(r"producerId: (-?\d+)", dump))
    epochs = set(re.findall(r"producerEpoch: (-?\d+)", dump))
    assert len(ids) == 1 and int(ids.pop()) >= 0, dump[:500]
    assert epochs == {"0"}, dump[:500]


MEMBER_SCRIPT = r"""
import sys, time
from confluent_kafka import Consumer
bootstrap, group, topic = sys.argv[1:4]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 2000,
              "heartbeat.interval.ms": 300, "partition.assignment.strategy": "range"})
c.subscribe([topic])
while True:
    c.poll(0.2)
    print("ASSIGNED", sorted(tp.partition for tp in c.assignment()), flush=True)
"""


def test_a_killed_member_is_evicted_after_its_session_timeout(make_broker, topic):
    broker = make_broker({**GROUP_OVERRIDES, "group.min.session.timeout.ms": "1000"})
    create_topic(broker.bootstrap, topic, 4)
    group = group_name()
    a = confluent_group_consumer(broker, group, **{"session.timeout.ms": 2000, "heartbeat.interval.ms": 300,
                                                   "partition.assignment.strategy": "range"})
    a.subscribe([topic])
    other = subprocess.Popen([sys.executable, "-c", MEMBER_SCRIPT, broker.bootstrap, group, topic],
                             stdout=subprocess.PIPE, text=True)
    try:
        # Both members share the partitions...
        deadline = time.time() + 40
        shared = False
        while time.time() < deadline and not shared:
            a.poll(0.2)
            shared = len(a.assignment()) == 2
        assert shared, f"a has {[tp.partition for tp in a.assignment()]}"
        # ...until the other process dies without leaving: its session (2 s) ends and `a` gets everything.
        other.kill()
        other.wait()
        killed_at = time.time()
        deadline = killed_at + 20
        while time.time() < deadline and len(a.assignment()) != 4:
            a.poll(0.2)
        assert sorted(tp.partition for tp in a.assignment()) == [0, 1, 2, 3]
        assert time.time() - killed_at >= 1.5, "the dead member's partitions moved before its session ended"
        assert "no heartbeat within 2000 ms" in broker.log_text()
    finally:
        if other.poll() is None:
            other.kill()
        a.close()


def test_a_restarted_static_member_takes_its_place_without_a_rebalance(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 2)
    group = group_name()

    def member(instance):
        c = confluent_group_consumer(broker, group, **{"group.instance.id": instance,
                                                       "partition.assignment.strategy": "range"})
        c.subscribe([topic])
        return c

    leader, follower = member("inst-1"), None
    try:
        deadline = time.time() + 30
        while time.time() < deadline and len(leader.assignment()) != 2:
            leader.poll(0.2)
        follower = member("inst-2")
        deadline = time.time() + 30
        while time.time() < deadline and not (len(leader.assignment()) == 1 and len(follower.assignment()) == 1):
            leader.poll(0.2)
            follower.poll(0.2)
        before = follower.assignment()
        assert len(before) == 1
        assert re.search(rf"group {group} generation 2: 2 members", broker.log_text())
        # The follower restarts: a static member sends no LeaveGroup, and its successor rejoins with the same
        # instance id before the session ends. It gets the same partition back, and no new generation starts.
        follower.close()
        follower = member("inst-2")
        deadline = time.time() + 30
        while time.time() < deadline and not follower.assignment():
            follower.poll(0.2)
            leader.poll(0.2)
        assert [tp.partition for tp in follower.assignment()] == [tp.partition for tp in before]
        for _ in range(5):
            leader.poll(0.2)
        assert not re.search(rf"group {group} generation 3", broker.log_text())
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        described = admin.describe_consumer_groups([group])[group].result(10)
        assert sorted(m.group_instance_id for m in described.members) == ["inst-1", "inst-2"]
    finally:
        leader.close()
        if follower is not None:
            follower.close()
