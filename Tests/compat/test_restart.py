"""Durability across restarts: records acknowledged with acks=-1 survive a SIGKILL of the broker; a SIGTERM
shuts it down cleanly, and the next start skips recovery."""
import os

from clients import check_records, consume_confluent, create_topic, make_records, produce_confluent


def test_acknowledged_records_survive_sigkill(make_broker, topic):
    broker = make_broker()
    create_topic(broker.bootstrap, topic, 2, config={"segment.bytes": "65536"})
    records = make_records(4000, 2, seed=5)
    produce_confluent(broker.bootstrap, topic, records, codec="lz4", acks="all")
    broker.kill()
    broker.start()
    check_records(consume_confluent(broker.bootstrap, topic, 2, len(records)), records, 2)
    # And the broker goes on taking writes after the unclean start.
    more = make_records(10, 2, seed=6)
    produce_confluent(broker.bootstrap, topic, more, acks="all")


def test_sigterm_shuts_down_cleanly_and_the_next_start_skips_recovery(make_broker, topic):
    broker = make_broker()
    create_topic(broker.bootstrap, topic, 1)
    records = make_records(500, 1, seed=8)
    produce_confluent(broker.bootstrap, topic, records)
    assert broker.stop() == 0
    assert "stopped cleanly" in broker.log_text()
    assert os.path.exists(os.path.join(broker.data_dir, ".kafka_cleanshutdown"))
    before = broker.log_text()
    broker.start()
    assert "recovered" not in broker.log_text()[len(before):]
    check_records(consume_confluent(broker.bootstrap, topic, 1, len(records)), records, 1)


def test_topics_and_configs_survive_a_restart(make_broker, topic):
    from confluent_kafka.admin import AdminClient, ConfigResource
    broker = make_broker()
    create_topic(broker.bootstrap, topic, 3, config={"retention.ms": "123456"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic_id = admin.describe_topics(__import__("confluent_kafka").TopicCollection([topic]))[topic].result(10).topic_id
    broker.kill()
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    described = admin.describe_topics(__import__("confluent_kafka").TopicCollection([topic]))[topic].result(10)
    assert str(described.topic_id) == str(topic_id)
    assert len(described.partitions) == 3
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    assert admin.describe_configs([resource])[resource].result(10)["retention.ms"].value == "123456"
