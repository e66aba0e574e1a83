"""Long poll: a fetch with nothing to read waits for max_wait, and an append wakes it at once."""
import struct
import threading
import time

import kafka
from confluent_kafka import Producer

from clients import create_topic
from wire import connect, fetch_v4, read_response


def test_idle_fetch_waits_max_wait(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    with connect(broker) as sock:
        for wait_ms in (300, 800):
            start = time.monotonic()
            sock.sendall(fetch_v4(1, topic, 0, 0, wait_ms))
            correlation_id, _ = read_response(sock)
            elapsed = time.monotonic() - start
            assert correlation_id == 1
            assert wait_ms / 1000 * 0.9 <= elapsed < wait_ms / 1000 + 1.0, elapsed


def test_blocked_fetch_wakes_on_append(broker, topic):
    """The consumer asks to wait up to 10 s; a record produced meanwhile reaches it within about 100 ms."""
    create_topic(broker.bootstrap, topic, 1)
    with connect(broker) as sock:
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        producer.produce(topic, b"warm-up", partition=0)
        assert producer.flush(10) == 0
        latencies = []
        for i in range(5):
            sent = {}
            sock.sendall(fetch_v4(10 + i, topic, 0, 1 + i, 10_000))
            time.sleep(0.2)  # the fetch is now parked in the broker

            def produce():
                sent["at"] = time.monotonic()
                producer.produce(topic, f"late-{i}".encode(), partition=0)
                producer.flush(10)
            threading.Thread(target=produce).start()
            correlation_id, body = read_response(sock)
            latencies.append(time.monotonic() - sent["at"])
            assert correlation_id == 10 + i
            assert f"late-{i}".encode() in body
        latencies.sort()
        print("wake-up latencies (s):", [round(x, 4) for x in latencies])
        assert latencies[len(latencies) // 2] < 0.1, latencies
        assert latencies[-1] < 1.0, latencies


def test_kafka_python_consumer_blocked_in_poll_gets_a_late_record(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    consumer = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap, fetch_max_wait_ms=10_000)
    tp = kafka.TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    consumer.poll(timeout_ms=300)  # settles the position; the next fetch parks in the broker
    received = {}

    def produce():
        time.sleep(0.5)
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        received["sent"] = time.monotonic()
        p.produce(topic, b"hello", partition=0)
        p.flush(10)
    threading.Thread(target=produce).start()
    start = time.monotonic()
    records = []
    while not records and time.monotonic() - start < 5:
        for batch in consumer.poll(timeout_ms=5000).values():
            records += batch
    received["got"] = time.monotonic()
    consumer.close()
    assert [r.value for r in records] == [b"hello"]
    assert received["got"] - received["sent"] < 1.0
