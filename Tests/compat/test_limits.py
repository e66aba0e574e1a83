"""message.max.bytes: a batch at the limit is accepted, one byte over is refused with MESSAGE_TOO_LARGE."""
import kafka
import kafka.errors
import pytest
from confluent_kafka import KafkaError, Producer

from clients import create_topic, consume_confluent

LIMIT = 100_000
# A one-record, uncompressed, keyless, headerless v2 batch is 61 header bytes plus the record: attributes,
# timestamp delta, offset delta, key length (-1), value length (3-byte varint), headers count (1 byte each),
# behind a 3-byte length varint: value + 72 bytes in all.
OVERHEAD = 72


def produce_one(bootstrap, topic, size):
    result = {}
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 2_000_000})
    p.produce(topic, b"x" * size, partition=0, on_delivery=lambda err, msg: result.update(err=err))
    assert p.flush(10) == 0
    return result["err"]


def test_batch_at_message_max_bytes_is_accepted_and_one_byte_more_is_refused(make_broker, topic):
    broker = make_broker({"message.max.bytes": LIMIT})
    create_topic(broker.bootstrap, topic, 1)
    assert produce_one(broker.bootstrap, topic, LIMIT - OVERHEAD) is None
    err = produce_one(broker.bootstrap, topic, LIMIT - OVERHEAD + 1)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert produce_one(broker.bootstrap, topic, LIMIT - OVERHEAD - 1000) is None
    values = [m[3] for m in consume_confluent(broker.bootstrap, topic, 1, 2)]
    assert [len(v) for v in values] == [LIMIT - OVERHEAD, LIMIT - OVERHEAD - 1000]


def test_kafka_python_sees_message_size_too_large(make_broker, topic):
    broker = make_broker({"message.max.bytes": LIMIT})
    create_topic(broker.bootstrap, topic, 1)
    p = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap, retries=0)
    p.send(topic, b"y" * (LIMIT // 2), partition=0).get(10)
    with pytest.raises(kafka.errors.MessageSizeTooLargeError):
        p.send(topic, b"y" * (LIMIT + 10), partition=0).get(10)
    p.close()


def test_topic_max_message_bytes_overrides_the_broker_default(broker, topic):
    create_topic(broker.bootstrap, topic, 1, config={"max.message.bytes": "5000"})
    assert produce_one(broker.bootstrap, topic, 4000) is None
    assert produce_one(broker.bootstrap, topic, 6000).code() == KafkaError.MSG_SIZE_TOO_LARGE
