"""Topic administration through confluent-kafka's AdminClient and kafka-python's KafkaAdminClient."""
import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KPConfigResource, ConfigResourceType, NewPartitions as KPNewPartitions
from kafka.admin import NewTopic as KPNewTopic
import kafka.errors


def error_code(future):
    try:
        future.result(10)
        return None
    except KafkaException as e:
        return e.args[0].code()


def test_confluent_admin_create_list_describe_alter_delete(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    created = admin.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "3600000", "cleanup.policy": "delete"})])
    created[topic].result(10)

    metadata = admin.list_topics(timeout=10)
    assert topic in metadata.topics
    assert sorted(metadata.topics[topic].partitions) == [0, 1, 2]
    assert all(p.leader == 1 and p.replicas == [1] and p.isrs == [1] for p in metadata.topics[topic].partitions.values())
    assert list(metadata.brokers) == [1]
    assert metadata.cluster_id

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["segment.bytes"].source == ConfigSource.STATIC_BROKER_CONFIG.value or \
        configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value

    altered = admin.incremental_alter_configs([ConfigResource(
        ConfigResource.Type.TOPIC, topic,
        incremental_configs=[ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
                             ConfigEntry("cleanup.policy", None, incremental_operation=AlterConfigOpType.DELETE)])])
    for future in altered.values():
        future.result(10)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "7200000"
    assert configs["cleanup.policy"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(10)
    assert sorted(admin.list_topics(topic, timeout=10).topics[topic].partitions) == [0, 1, 2, 3, 4]

    admin.delete_topics([topic])[topic].result(10)
    assert topic not in admin.list_topics(timeout=10).topics


def test_confluent_admin_errors_are_kafkas(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    assert error_code(admin.create_topics([NewTopic(topic, 1, 1)])[topic]) == KafkaError.TOPIC_ALREADY_EXISTS
    assert error_code(admin.create_topics([NewTopic(topic + "-rf", 1, 3)])[topic + "-rf"]) == \
        KafkaError.INVALID_REPLICATION_FACTOR
    bad = topic + "-cfg"
    assert error_code(admin.create_topics([NewTopic(bad, 1, 1, config={"retention.ms": "soon"})])[bad]) == \
        KafkaError.INVALID_CONFIG
    dry = topic + "-dry"
    admin.create_topics([NewTopic(dry, 2, 1)], validate_only=True)[dry].result(10)
    assert dry not in admin.list_topics(timeout=10).topics
    assert error_code(admin.delete_topics([topic + "-none"])[topic + "-none"]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert error_code(admin.create_partitions([NewPartitions(topic, 1)])[topic]) == KafkaError.INVALID_PARTITIONS


def test_confluent_describe_cluster(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cluster = admin.describe_cluster().result(10)
    assert cluster.cluster_id
    assert [n.id for n in cluster.nodes] == [1]
    assert cluster.controller.id == 1
    assert cluster.nodes[0].port == broker.port


def test_kafka_python_admin(broker, topic):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([KPNewTopic(topic, 2, 1, topic_configs={"max.message.bytes": "200000"})])
        assert topic in admin.list_topics()
        described = admin.describe_topics([topic])
        assert described[0]["name"] == topic and described[0]["error_code"] == 0
        assert [p["leader_id"] for p in described[0]["partitions"]] == [1, 1]
        configs = admin.describe_configs([KPConfigResource(ConfigResourceType.TOPIC, topic)])
        entry = configs["topic"][topic]["max.message.bytes"]
        assert entry["value"] == "200000" and entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        admin.create_partitions({topic: KPNewPartitions(4)})
        assert len(admin.describe_topics([topic])[0]["partitions"]) == 4
        with pytest.raises(kafka.errors.TopicAlreadyExistsError):
            admin.create_topics([KPNewTopic(topic, 1, 1)])
        with pytest.raises(kafka.errors.InvalidReplicationFactorError):
            admin.create_topics([KPNewTopic(topic + "-rf", 1, 2)])
        admin.delete_topics([topic])
        assert topic not in admin.list_topics()
    finally:
        admin.close()
