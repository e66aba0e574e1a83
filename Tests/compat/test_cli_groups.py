"""Consumer groups from the command line against a running broker: `console-consumer --group` commits and resumes,
`consumer-groups` lists, describes (lag), resets and deletes groups (also groups made by confluent-kafka), and its
wrong flags fail with Kafka's messages. Cross-checked with confluent-kafka (librdkafka)."""
import re
import signal
import subprocess
import time

import pytest
from confluent_kafka import Consumer as KafkaConsumer, Producer as KafkaProducer, TopicPartition

from test_cli_support import create_topic, one_line_error, produce_lines, samsa, unique

DESCRIBE_HEADER = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
                   "CLIENT-ID"]


def group_consume(broker, topic, group, *extra, max_messages=None, timeout_ms=4000):
    args = ["console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic, "--group", group, *extra,
            "--timeout-ms", timeout_ms]
    if max_messages is not None:
        args += ["--max-messages", max_messages]
    return samsa(broker, *args)


def describe_offsets(broker, group):
    """`consumer-groups --describe --group G`: {(topic, partition): row dict} and the raw process."""
    proc = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--describe", "--group", group)
    lines = [line for line in proc.stdout.split("\n") if line.strip()]
    assert lines[0].split() == DESCRIBE_HEADER, proc.stdout
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        assert len(cells) == 9, line
        row = dict(zip(DESCRIBE_HEADER, cells))
        assert row["GROUP"] == group
        rows[(row["TOPIC"], int(row["PARTITION"]))] = row
    return rows, proc


def committed_with_librdkafka(broker, group, topic, partitions):
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in offsets}


def produce_with_librdkafka(broker, topic, counts):
    """counts[p] records into partition p; returns the values per partition."""
    producer = KafkaProducer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    values = {}
    for p, n in enumerate(counts):
        values[p] = [f"p{p}-{i}" for i in range(n)]
        for v in values[p]:
            producer.produce(topic, v.encode(), partition=p)
    assert producer.flush(30) == 0
    return values


def group_state(broker, group):
    out = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--describe", "--group", group,
                "--state").stdout
    lines = [line for line in out.split("\n") if line.strip()]
    assert lines[0].split()[:2] == ["GROUP", "COORDINATOR"], out
    return lines[1].split()


# MARK: console-consumer --group


def test_console_consumer_group_commits_then_resumes(broker):
    topic, group = unique("cg-resume"), unique("g")
    create_topic(broker, topic, 3)
    lines = [f"line {i}" for i in range(60)]
    produce_lines(broker, topic, lines)

    first = group_consume(broker, topic, group, "--from-beginning", max_messages=25).stdout.splitlines()
    assert len(first) == 25
    # What it printed is what it committed: 25 consumed, 35 to go.
    rows, _ = describe_offsets(broker, group)
    assert sum(int(r["CURRENT-OFFSET"]) for r in rows.values() if r["CURRENT-OFFSET"] != "-") == 25
    for r in rows.values():
        if r["CURRENT-OFFSET"] != "-":
            assert int(r["LAG"]) == int(r["LOG-END-OFFSET"]) - int(r["CURRENT-OFFSET"])
    if len(rows) == 3:
        assert sum(int(r["LAG"]) for r in rows.values()) == 35

    # The next member starts where the group stopped (no --from-beginning needed), and reads each record once.
    second = group_consume(broker, topic, group).stdout.splitlines()
    assert sorted(first + second) == sorted(lines)
    assert not set(first) & set(second)

    rows, _ = describe_offsets(broker, group)
    assert {p for (_, p) in rows} == {0, 1, 2}
    assert all(r["LAG"] == "0" for r in rows.values()), rows
    assert sum(int(r["CURRENT-OFFSET"]) for r in rows.values()) == 60
    # Nothing left for a third run.
    assert group_consume(broker, topic, group, timeout_ms=2000).stdout == ""


def test_console_consumer_group_commits_on_ctrl_c(broker):
    topic, group = unique("cg-sigint"), unique("g")
    create_topic(broker, topic, 2)
    lines = [f"c{i}" for i in range(50)]
    produce_lines(broker, topic, lines)
    proc = subprocess.Popen([broker.bin, "console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                             "--group", group, "--from-beginning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    got = []
    try:
        while len(got) < len(lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            got.append(line.rstrip("\n"))
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    assert sorted(got) == sorted(lines) and rest == ""
    assert "Processed a total of 50 messages" in err
    rows, _ = describe_offsets(broker, group)
    assert sum(int(r["CURRENT-OFFSET"]) for r in rows.values() if r["CURRENT-OFFSET"] != "-") == 50


def test_console_consumer_group_without_from_beginning_starts_at_the_end(broker):
    topic, group = unique("cg-latest"), unique("g")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, ["old 1", "old 2"])
    assert group_consume(broker, topic, group, timeout_ms=2000).stdout == ""
    # The group now has a committed offset at the end: later records are read, older ones are not.
    produce_lines(broker, topic, ["new 1"])
    assert group_consume(broker, topic, group, "--from-beginning", timeout_ms=3000).stdout.splitlines() == ["new 1"]


def test_console_consumer_group_matches_librdkafka_commits(broker):
    topic, group = unique("cg-rdk"), unique("g")
    create_topic(broker, topic, 2)
    produce_lines(broker, topic, [f"k{i}" for i in range(40)])
    assert len(group_consume(broker, topic, group, "--from-beginning", max_messages=40).stdout.splitlines()) == 40
    committed = committed_with_librdkafka(broker, group, topic, 2)
    rows, _ = describe_offsets(broker, group)
    assert {p: int(rows[(topic, p)]["CURRENT-OFFSET"]) for p in range(2)} == committed
    assert sum(committed.values()) == 40


@pytest.mark.parametrize("args, message", [
    (["--partition", "0"], "Options group and partition cannot be specified together."),
    (["--consumer-property", "group.id=other"], "The group ids provided in different places"),
])
def test_console_consumer_group_conflicts_are_refused(broker, args, message):
    proc = samsa(broker, "console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", "t", "--group", "g",
                 *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def start_group_consumer(broker, topic, group, timeout_ms=6000):
    return subprocess.Popen([broker.bin, "console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                             "--group", group, "--from-beginning", "--timeout-ms", str(timeout_ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_console_consumers_share_the_partitions(broker):
    topic, group = unique("cg-share"), unique("g")
    create_topic(broker, topic, 4)
    lines = [f"s{i}" for i in range(80)]
    # Keyed, so that every partition gets records (unkeyed lines would stick to one partition).
    produce_lines(broker, topic, [f"k{i}:{line}" for i, line in enumerate(lines)], "--property", "parse.key=true",
                  "--property", "key.separator=:")
    procs = [start_group_consumer(broker, topic, group) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    got = [o[0].splitlines() for o in outs]
    # Each record printed once across the group; both joined the first generation, so both had partitions.
    assert sorted(got[0] + got[1]) == sorted(lines)
    assert got[0] and got[1]
    rows, _ = describe_offsets(broker, group)
    assert sum(int(r["CURRENT-OFFSET"]) for r in rows.values()) == 80


def test_samsa_and_librdkafka_members_in_one_group(broker):
    topic, group = unique("cg-mixed"), unique("g")
    create_topic(broker, topic, 4)
    lines = [f"x{i}" for i in range(100)]
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                              "partition.assignment.strategy": "range", "enable.auto.commit": True})
    got_rdk = []
    try:
        consumer.subscribe([topic])
        proc = start_group_consumer(broker, topic, group, timeout_ms=6000)
        # Both members in one stable generation before anything is produced: librdkafka's member and samsa's
        # share the partitions (range: two each), whatever the join order.
        deadline = time.time() + 40
        while time.time() < deadline:
            got_rdk += [m.value().decode() for m in consumer.consume(num_messages=100, timeout=0.2) if m.error() is None]
            if len(consumer.assignment()) == 2 and group_state(broker, group)[-2:] == ["Stable", "2"]:
                break
        assert len(consumer.assignment()) == 2, consumer.assignment()
        produce_lines(broker, topic, [f"k{i}:{line}" for i, line in enumerate(lines)], "--property", "parse.key=true",
                      "--property", "key.separator=:")
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            got_rdk += [m.value().decode() for m in consumer.consume(num_messages=100, timeout=0.2) if m.error() is None]
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        consumer.close()
    got_samsa = out.splitlines()
    assert sorted(got_rdk + got_samsa) == sorted(lines)
    assert got_samsa and got_rdk, err


# MARK: consumer-groups --list / --describe


def test_list_and_describe_a_group_made_by_librdkafka(broker):
    topic, group = unique("cg-lag"), unique("rdk")
    create_topic(broker, topic, 3)
    counts = [10, 20, 30]
    produce_with_librdkafka(broker, topic, counts)
    consumed = {0: 4, 1: 20, 2: 0}
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                              "auto.offset.reset": "earliest"})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, n) for p, n in consumed.items()], asynchronous=False)
    finally:
        consumer.close()

    listed = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--list").stdout.split()
    assert group in listed

    rows, proc = describe_offsets(broker, group)
    assert f"Consumer group '{group}' has no active members." in proc.stderr
    assert set(rows) == {(topic, 0), (topic, 1), (topic, 2)}
    for p in range(3):
        row = rows[(topic, p)]
        assert int(row["CURRENT-OFFSET"]) == consumed[p]
        assert int(row["LOG-END-OFFSET"]) == counts[p]
        assert int(row["LAG"]) == counts[p] - consumed[p]
        assert row["CONSUMER-ID"] == row["HOST"] == row["CLIENT-ID"] == "-"


def test_describe_shows_an_active_librdkafka_member(broker):
    topic, group = unique("cg-active"), unique("rdk")
    create_topic(broker, topic, 2)
    produce_with_librdkafka(broker, topic, [5, 5])
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "client.id": "rdk-client",
                              "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        got = []
        deadline = time.time() + 30
        while len(got) < 10 and time.time() < deadline:
            got += [m for m in consumer.consume(num_messages=100, timeout=0.5) if m.error() is None]
        assert len(got) == 10
        consumer.commit(asynchronous=False)
        rows, _ = describe_offsets(broker, group)
        assert {p for (_, p) in rows} == {0, 1}
        for row in rows.values():
            assert row["CURRENT-OFFSET"] == "5" and row["LOG-END-OFFSET"] == "5" and row["LAG"] == "0"
            assert row["CLIENT-ID"] == "rdk-client"
            assert row["CONSUMER-ID"].startswith("rdk-client-")
        state = group_state(broker, group)
        assert state[0] == group and state[-2:] == ["Stable", "1"]
        out = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--describe", "--group", group,
                    "--members", "--verbose").stdout
        members = [line for line in out.split("\n") if line.strip()]
        assert members[0].split() == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]
        cells = members[1].split()
        assert cells[0] == group and cells[1].startswith("rdk-client-") and cells[3] == "rdk-client"
        assert cells[4] == "2" and " ".join(cells[5:]) == "(0,1)"
        # An active group is not reset.
        proc = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--reset-offsets",
                     "--group", group, "--all-topics", "--to-earliest", "--execute", check=False)
        assert proc.returncode != 0
        assert f"Assignments can only be reset if the group '{group}' is inactive, but the current state is Stable." \
            in proc.stderr
    finally:
        consumer.close()


def test_describe_an_unknown_group(broker):
    group = unique("nobody")
    proc = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--describe", "--group", group,
                 check=False)
    assert proc.returncode != 0
    assert f"Consumer group '{group}' does not exist." in proc.stderr


# MARK: --reset-offsets and --delete


def test_reset_offsets_to_earliest_latest_and_offset(broker):
    topic, group = unique("cg-reset"), unique("g")
    create_topic(broker, topic, 2)
    produce_lines(broker, topic, [f"r{i}" for i in range(20)])
    assert len(group_consume(broker, topic, group, "--from-beginning", max_messages=20).stdout.splitlines()) == 20
    base = ["consumer-groups", "--bootstrap-server", broker.bootstrap, "--reset-offsets", "--group", group]
    ends = committed_with_librdkafka(broker, group, topic, 2)
    assert sum(ends.values()) == 20

    # Without --execute: a plan only (and Kafka's warning).
    proc = samsa(broker, *base, "--topic", topic, "--to-earliest")
    assert "--execute option is missing" in proc.stderr
    plan = [line.split() for line in proc.stdout.split("\n") if line.strip()]
    assert plan[0] == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    assert sorted(plan[1:]) == [[group, topic, "0", "0"], [group, topic, "1", "0"]]
    assert committed_with_librdkafka(broker, group, topic, 2) == ends

    samsa(broker, *base, "--topic", topic, "--to-earliest", "--execute")
    assert committed_with_librdkafka(broker, group, topic, 2) == {0: 0, 1: 0}
    assert len(group_consume(broker, topic, group).stdout.splitlines()) == 20

    samsa(broker, *base, "--topic", f"{topic}:1", "--to-offset", 3, "--execute")
    assert committed_with_librdkafka(broker, group, topic, 2) == {0: ends[0], 1: min(3, ends[1])}
    rows, _ = describe_offsets(broker, group)
    assert int(rows[(topic, 1)]["LAG"]) == ends[1] - min(3, ends[1])

    samsa(broker, *base, "--all-topics", "--to-latest", "--execute")
    assert committed_with_librdkafka(broker, group, topic, 2) == ends
    samsa(broker, *base, "--all-topics", "--shift-by", -2, "--execute")
    assert committed_with_librdkafka(broker, group, topic, 2) == {p: max(0, n - 2) for p, n in ends.items()}


def test_reset_offsets_of_a_new_group_then_consume(broker):
    topic, group = unique("cg-reset-new"), unique("g")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, [f"n{i}" for i in range(10)])
    samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--reset-offsets", "--group", group,
          "--topic", topic, "--to-offset", 7, "--execute")
    assert group_consume(broker, topic, group).stdout.splitlines() == ["n7", "n8", "n9"]


def test_delete_group(broker):
    topic, group = unique("cg-delete"), unique("g")
    create_topic(broker, topic, 1)
    produce_lines(broker, topic, ["a", "b"])
    group_consume(broker, topic, group, "--from-beginning", max_messages=2)
    proc = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--delete", "--group", group)
    assert proc.stdout.strip() == f"Deletion of requested consumer groups ('{group}') was successful."
    listed = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--list").stdout.split()
    assert group not in listed
    assert committed_with_librdkafka(broker, group, topic, 1) == {0: -1001}
    # Deleting it again names the reason.
    proc = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--delete", "--group", group,
                 check=False)
    assert proc.returncode != 0
    assert f"Group '{group}' could not be deleted due to: The group id does not exist." in proc.stderr


@pytest.mark.parametrize("args, message", [
    ([], "Command must include exactly one action: --list, --describe, --delete, --reset-offsets"),
    (["--list", "--describe"], "Command must include exactly one action"),
    (["--describe"], "Option [describe] takes one of these options: [all-groups], [group]"),
    (["--delete"], "Option [delete] takes one of these options: [all-groups], [group]"),
    (["--reset-offsets", "--group", "g", "--topic", "t"], "Option '[reset-offsets]' requires one of the following scenarios"),
    (["--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--to-latest"],
     "Option '[reset-offsets]' takes only one scenario"),
    (["--reset-offsets", "--group", "g", "--to-earliest"], "One of the reset scopes should be defined: --all-topics, --topic."),
    (["--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--execute", "--dry-run"],
     "Option [reset-offsets] only accepts one of [execute] and [dry-run]"),
    (["--describe", "--group", "g", "--to-earliest"], "only apply to --reset-offsets"),
    (["--list", "--group", "g"], "Option \"[group]\" can't be used with option \"[list]\""),
    (["--describe", "--group", "g", "--members", "--state"], "takes at most one of these options"),
    (["--describe", "--group", "g", "--verbose"], "Option [verbose] is applicable only with [describe] and [members]"),
])
def test_consumer_groups_wrong_flags(broker, args, message):
    proc = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_consumer_groups_needs_a_bootstrap_server(broker):
    proc = samsa(broker, "consumer-groups", "--list", check=False)
    assert proc.returncode != 0
    assert "bootstrap-server" in proc.stderr
