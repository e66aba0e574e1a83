"""Thousands of keyed records with headers and timestamps, through every codec and every client, checked byte
for byte and offset for offset."""
import pytest

from clients import CLIENTS, CODECS, CONSUMERS, PRODUCERS, check_records, create_topic, make_records

PARTITIONS = 3
COUNT = 3000


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", CLIENTS)
def test_produce_and_consume_back(broker, topic, client, codec):
    create_topic(broker.bootstrap, topic, PARTITIONS)
    records = make_records(COUNT, PARTITIONS, seed=CLIENTS.index(client) * 10 + CODECS.index(codec))
    PRODUCERS[client](broker.bootstrap, topic, records, codec=codec)
    consumed = CONSUMERS[client](broker.bootstrap, topic, PARTITIONS, COUNT)
    check_records(consumed, records, PARTITIONS)


@pytest.mark.parametrize("consumer", CLIENTS)
def test_each_client_reads_what_another_wrote(broker, topic, consumer):
    create_topic(broker.bootstrap, topic, PARTITIONS)
    records = make_records(1000, PARTITIONS, seed=7)
    producer = {"confluent": "kafka-python", "kafka-python": "aiokafka", "aiokafka": "confluent"}[consumer]
    PRODUCERS[producer](broker.bootstrap, topic, records, codec="zstd")
    check_records(CONSUMERS[consumer](broker.bootstrap, topic, PARTITIONS, len(records)), records, PARTITIONS)


def test_auto_created_topic_serves_a_default_producer(broker, topic):
    """A producer's first Metadata request creates the topic (auto.create.topics.enable=true by default)."""
    records = make_records(200, 1, seed=3)
    PRODUCERS["confluent"](broker.bootstrap, topic, records)
    check_records(CONSUMERS["confluent"](broker.bootstrap, topic, 1, len(records)), records, 1)
