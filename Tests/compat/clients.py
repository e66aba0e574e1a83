"""Produce and consume through each client library, with the records the tests check byte for byte."""
import asyncio
import random
import time

import aiokafka
import kafka
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CLIENTS = ["confluent", "kafka-python", "aiokafka"]
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BASE_TS = 1_700_000_000_000


def make_records(n, partitions, seed):
    """n records: keys, values of varied length (compressible and not), two headers, distinct timestamps."""
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        text = (f"value-{i}-" * (i % 17)).encode()
        noise = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 200)))
        records.append({
            "partition": i % partitions,
            "key": f"key-{i}".encode(),
            "value": text + noise,
            "headers": [("idx", str(i).encode()), ("bin", bytes([i % 256, 0, 255]))],
            "timestamp": BASE_TS + i * 7,
        })
    return records


def create_topic(bootstrap, name, partitions=1, config=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    futures[name].result(10)


# Producing: each returns nothing and raises on any delivery failure.

def produce_confluent(bootstrap, topic, records, codec="none", acks="all"):
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "acks": acks, "linger.ms": 5})
    for r in records:
        p.produce(topic, key=r["key"], value=r["value"], headers=r["headers"], timestamp=r["timestamp"],
                  partition=r["partition"], on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors[:3]


def produce_kafka_python(bootstrap, topic, records, codec="none"):
    p = kafka.KafkaProducer(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec)
    futures = [p.send(topic, key=r["key"], value=r["value"], headers=r["headers"], timestamp_ms=r["timestamp"],
                      partition=r["partition"]) for r in records]
    p.flush(30)
    for f in futures:
        f.get(10)
    p.close()


def produce_aiokafka(bootstrap, topic, records, codec="none"):
    async def run():
        p = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec)
        await p.start()
        try:
            futures = [await p.send(topic, key=r["key"], value=r["value"], headers=r["headers"],
                                    timestamp_ms=r["timestamp"], partition=r["partition"]) for r in records]
            for f in futures:
                await f
        finally:
            await p.stop()
    asyncio.run(run())


PRODUCERS = {"confluent": produce_confluent, "kafka-python": produce_kafka_python, "aiokafka": produce_aiokafka}


# Consuming: each returns [(partition, offset, key, value, headers, timestamp)] for `count` records, read from
# the beginning of every partition with assign() (no consumer group).

def consume_confluent(bootstrap, topic, partitions, count, timeout=30):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.time() + timeout
    try:
        while len(out) < count and time.time() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(m.error())
                out.append((m.partition(), m.offset(), m.key(), m.value(),
                            [(k, v) for k, v in (m.headers() or [])], m.timestamp()[1]))
    finally:
        c.close()
    return out


def consume_kafka_python(bootstrap, topic, partitions, count, timeout=30):
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [kafka.TopicPartition(topic, p) for p in range(partitions)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    out = []
    deadline = time.time() + timeout
    try:
        while len(out) < count and time.time() < deadline:
            for tp, messages in c.poll(timeout_ms=500).items():
                for m in messages:
                    out.append((m.partition, m.offset, m.key, m.value, list(m.headers), m.timestamp))
    finally:
        c.close()
    return out


def consume_aiokafka(bootstrap, topic, partitions, count, timeout=30):
    async def run():
        c = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await c.start()
        out = []
        try:
            tps = [aiokafka.TopicPartition(topic, p) for p in range(partitions)]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            deadline = time.time() + timeout
            while len(out) < count and time.time() < deadline:
                batches = await c.getmany(timeout_ms=500)
                for tp, messages in batches.items():
                    for m in messages:
                        out.append((m.partition, m.offset, m.key, m.value, list(m.headers), m.timestamp))
        finally:
            await c.stop()
        return out
    return asyncio.run(run())


CONSUMERS = {"confluent": consume_confluent, "kafka-python": consume_kafka_python, "aiokafka": consume_aiokafka}


def check_records(consumed, records, partitions):
    """Every record came back exactly once, byte for byte, at dense offsets in produce order per partition."""
    assert len(consumed) == len(records), f"consumed {len(consumed)} of {len(records)}"
    by_partition = {p: [] for p in range(partitions)}
    for r in records:
        by_partition[r["partition"]].append(r)
    got = {p: sorted([c for c in consumed if c[0] == p], key=lambda c: c[1]) for p in range(partitions)}
    for p in range(partitions):
        expected = by_partition[p]
        assert [c[1] for c in got[p]] == list(range(len(expected))), f"partition {p}: offsets not dense from 0"
        for c, r in zip(got[p], expected):
            assert c[2] == r["key"], (p, c[1])
            assert c[3] == r["value"], (p, c[1])
            assert [(k, bytes(v)) for k, v in c[4]] == r["headers"], (p, c[1])
            assert c[5] == r["timestamp"], (p, c[1])
