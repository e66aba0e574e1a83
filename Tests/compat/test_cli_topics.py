"""`samsa topics` against a running broker: Kafka's quickstart word for word, and Kafka's output formats."""
import pytest

from test_cli_support import (create_topic, consume, describe, one_line_error, produce_lines, samsa, unique,
                              TOPIC_LINE)


def test_quickstart_sequence_word_for_word(broker):
    """Kafka's quickstart with `samsa` in place of bin/kafka-*.sh: create, describe, list, produce, consume."""
    topic = unique("quickstart-events")
    out = samsa(broker, "topics", "--create", "--topic", topic, "--bootstrap-server", broker.bootstrap).stdout
    assert out == f"Created topic {topic}.\n"

    head, partitions = describe(broker, topic)
    assert head["name"] == topic
    assert head["id"], "the broker assigns topic ids; describe prints them"
    assert head["rf"] == "1"
    count = int(head["count"])
    assert [int(p["partition"]) for p in partitions] == list(range(count))
    for p in partitions:
        assert p["name"] == topic
        assert p["leader"] != "none"
        assert p["replicas"] == p["leader"] and p["isr"] == p["leader"]

    listed = samsa(broker, "topics", "--list", "--bootstrap-server", broker.bootstrap).stdout.splitlines()
    assert topic in listed
    assert listed == sorted(listed)

    events = ["This is my first event", "This is my second event"]
    produced = produce_lines(broker, topic, events)
    assert produced.stdout == "", "no prompt when stdin is not a terminal"

    consumed = consume(broker, topic, "--from-beginning", max_messages=2)
    lines = consumed.stdout.splitlines()
    assert (lines if count == 1 else sorted(lines)) == (events if count == 1 else sorted(events))
    assert "Processed a total of 2 messages" in consumed.stderr


def test_create_with_partitions_and_config_then_describe(broker):
    topic = unique("orders")
    create_topic(broker, topic, 3, "--config", "retention.ms=86400000", "--config", "cleanup.policy=delete")
    head, partitions = describe(broker, topic)
    assert head["count"] == "3"
    assert len(partitions) == 3
    assert "retention.ms=86400000" in head["configs"].split(",")


def test_describe_without_topic_describes_every_topic(broker):
    a, b = unique("all-a"), unique("all-b")
    create_topic(broker, a)
    create_topic(broker, b, 2)
    out = samsa(broker, "topics", "--describe", "--bootstrap-server", broker.bootstrap).stdout
    topic_lines = [line for line in out.splitlines() if line.startswith("Topic: ")]
    names = [TOPIC_LINE.match(line)["name"] for line in topic_lines]
    assert a in names and b in names
    assert names == sorted(names)


def test_creating_an_existing_topic_fails_with_one_line(broker):
    topic = unique("twice")
    create_topic(broker, topic)
    proc = samsa(broker, "topics", "--create", "--topic", topic, "--bootstrap-server", broker.bootstrap, check=False)
    line = one_line_error(proc)
    assert line.startswith("Error while executing topic command : ")
    assert "already exists" in line


def test_if_not_exists_makes_a_second_create_quiet(broker):
    topic = unique("quiet")
    create_topic(broker, topic)
    proc = samsa(broker, "topics", "--create", "--if-not-exists", "--topic", topic, "--bootstrap-server",
                 broker.bootstrap)
    assert proc.stdout == "" and proc.stderr == ""


def test_alter_raises_the_partition_count(broker):
    topic = unique("grow")
    create_topic(broker, topic, 1)
    proc = samsa(broker, "topics", "--alter", "--topic", topic, "--partitions", 4, "--bootstrap-server",
                 broker.bootstrap)
    assert proc.stdout == ""
    head, partitions = describe(broker, topic)
    assert head["count"] == "4"
    assert [p["partition"] for p in partitions] == ["0", "1", "2", "3"]


def test_delete_removes_the_topic(broker):
    topic = unique("doomed")
    create_topic(broker, topic)
    proc = samsa(broker, "topics", "--delete", "--topic", topic, "--bootstrap-server", broker.bootstrap)
    assert proc.stdout == ""
    listed = samsa(broker, "topics", "--list", "--bootstrap-server", broker.bootstrap).stdout.splitlines()
    assert topic not in listed


def test_a_missing_topic_is_one_line_error_unless_if_exists(broker):
    topic = unique("absent")
    for action in ["--describe", "--delete"]:
        proc = samsa(broker, "topics", action, "--topic", topic, "--bootstrap-server", broker.bootstrap, check=False)
        line = one_line_error(proc)
        assert line == f"Error while executing topic command : Topic '{topic}' does not exist as expected"
    proc = samsa(broker, "topics", "--describe", "--if-exists", "--topic", topic, "--bootstrap-server",
                 broker.bootstrap)
    assert proc.stdout == ""


def test_topic_accepts_a_regular_expression_for_list(broker):
    prefix = unique("rx")
    for suffix in ["a", "b"]:
        create_topic(broker, f"{prefix}-{suffix}")
    out = samsa(broker, "topics", "--list", "--topic", f"{prefix}-.*", "--bootstrap-server", broker.bootstrap).stdout
    assert out.splitlines() == [f"{prefix}-a", f"{prefix}-b"]


def test_a_period_or_underscore_in_a_name_warns_like_kafka(broker):
    topic = unique("with_underscore")
    out = samsa(broker, "topics", "--create", "--topic", topic, "--bootstrap-server", broker.bootstrap).stdout
    lines = out.splitlines()
    assert lines[0].startswith("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore")
    assert lines[1] == f"Created topic {topic}."


@pytest.mark.parametrize("args,message", [
    (["--list", "--create"], "Command must include exactly one action"),
    ([], "Command must include exactly one action"),
    (["--alter", "--topic", "t"], "partitions"),
    (["--create", "--topic", "t", "--partitions", "0"], "The partitions must be greater than 0"),
])
def test_bad_flag_combinations_are_usage_errors(broker, args, message):
    proc = samsa(broker, "topics", *args, "--bootstrap-server", broker.bootstrap, check=False)
    assert message in one_line_error(proc, usage=True)


def test_an_unreachable_broker_is_one_line_and_nonzero(broker):
    proc = samsa(broker, "topics", "--list", "--bootstrap-server", "127.0.0.1:1", check=False, timeout=90)
    line = one_line_error(proc)
    assert "127.0.0.1:1" in line


@pytest.mark.parametrize("command", ["topics", "console-producer", "console-consumer", "producer-perf-test",
                                     "consumer-perf-test"])
def test_help_shows_an_example(broker, command):
    out = samsa(broker, command, "--help").stdout
    assert "Example" in out
    assert f"samsa {command} " in out
