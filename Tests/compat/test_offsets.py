"""Offsets: beginning, end and by timestamp, through each client."""
import asyncio

import aiokafka
import kafka
from confluent_kafka import Consumer, TopicPartition

from clients import BASE_TS, create_topic, make_records, produce_confluent


def setup_topic(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    records = make_records(100, 1, seed=11)  # timestamps BASE_TS + 7 * i
    produce_confluent(broker.bootstrap, topic, records)
    return records


def test_confluent_offsets_for_times_and_watermarks(broker, topic):
    setup_topic(broker, topic)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "compat-unused"})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 100)
        found = c.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 7 * 40 - 3)], timeout=10)
        assert found[0].offset == 40
        beyond = c.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 7 * 1000)], timeout=10)
        assert beyond[0].offset == -1
    finally:
        c.close()


def test_kafka_python_offsets(broker, topic):
    setup_topic(broker, topic)
    c = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap)
    try:
        tp = kafka.TopicPartition(topic, 0)
        assert c.beginning_offsets([tp])[tp] == 0
        assert c.end_offsets([tp])[tp] == 100
        found = c.offsets_for_times({tp: BASE_TS + 7 * 25})[tp]
        assert found.offset == 25 and found.timestamp == BASE_TS + 7 * 25
        assert c.offsets_for_times({tp: BASE_TS + 7 * 1000})[tp] is None
    finally:
        c.close()


def test_aiokafka_offsets(broker, topic):
    setup_topic(broker, topic)

    async def run():
        c = aiokafka.AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
        await c.start()
        try:
            tp = aiokafka.TopicPartition(topic, 0)
            assert (await c.beginning_offsets([tp]))[tp] == 0
            assert (await c.end_offsets([tp]))[tp] == 100
            found = (await c.offsets_for_times({tp: BASE_TS + 7 * 60}))[tp]
            assert found.offset == 60 and found.timestamp == BASE_TS + 7 * 60
        finally:
            await c.stop()
    asyncio.run(run())
