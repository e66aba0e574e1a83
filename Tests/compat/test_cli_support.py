"""Helpers shared by the test_cli_*.py tests (this module holds no tests itself): run `samsa` commands against the `broker` fixture.

The fixture (Tests/compat/conftest.py) yields an object with `.bootstrap` ("127.0.0.1:PORT") and `.bin` (the
samsa binary). Every topic a test creates has a unique name, so tests do not depend on each other.
"""
import re
import subprocess
import uuid

TIMEOUT = 60


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def samsa(broker, *args, stdin=None, timeout=TIMEOUT, check=True):
    """Runs `samsa ARGS...` with pipes for stdin/stdout/stderr; returns the CompletedProcess (text)."""
    proc = subprocess.run(
        [broker.bin, *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"samsa {' '.join(map(str, args))} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
    return proc


def create_topic(broker, topic, partitions=1, *extra):
    out = samsa(broker, "topics", "--create", "--topic", topic, "--partitions", partitions,
                "--replication-factor", 1, *extra, "--bootstrap-server", broker.bootstrap).stdout
    assert out.strip().splitlines()[-1] == f"Created topic {topic}."
    return out


def produce_lines(broker, topic, lines, *extra):
    return samsa(broker, "console-producer", "--bootstrap-server", broker.bootstrap, "--topic", topic, *extra,
                 stdin="".join(line + "\n" for line in lines))


def consume(broker, topic, *extra, max_messages=None, timeout_ms=5000):
    args = ["console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic, *extra]
    if max_messages is not None:
        args += ["--max-messages", max_messages]
    if timeout_ms is not None:
        args += ["--timeout-ms", timeout_ms]
    return samsa(broker, *args)


TOPIC_LINE = re.compile(
    r"^Topic: (?P<name>\S+)(\tTopicId: (?P<id>[A-Za-z0-9_-]{22}))?\tPartitionCount: (?P<count>\d+)"
    r"\tReplicationFactor: (?P<rf>\d+)\tConfigs: (?P<configs>.*)$"
)
PARTITION_LINE = re.compile(
    r"^\tTopic: (?P<name>\S+)\tPartition: (?P<partition>\d+)\tLeader: (?P<leader>\d+|none)"
    r"\tReplicas: (?P<replicas>[\d,]*)\tIsr: (?P<isr>[\d,]*)\tElr: (?P<elr>.*)\tLastKnownElr: (?P<lkelr>.*)$"
)
PRODUCER_SUMMARY = re.compile(
    r"^(?P<count>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, "
    r"(?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th\.$"
)
CONSUMER_HEADER = ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
                   "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
CONSUMER_SUMMARY = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, [\d.]+, [\d.]+, (?P<count>\d+), "
    r"[\d.]+, \d+, \d+, [\d.]+|NaN|Infinity, [\d.]+|NaN|Infinity$"
)


def describe(broker, topic):
    """Parses `topics --describe --topic T`: (topic line match, [partition line matches])."""
    out = samsa(broker, "topics", "--describe", "--topic", topic, "--bootstrap-server", broker.bootstrap).stdout
    lines = out.rstrip("\n").split("\n")
    head = TOPIC_LINE.match(lines[0])
    assert head, f"topic line not in Kafka's format: {lines[0]!r}"
    parts = [PARTITION_LINE.match(line) for line in lines[1:]]
    assert all(parts), f"partition lines not in Kafka's format: {lines[1:]!r}"
    return head, parts


def one_line_error(proc, usage=False):
    """Asserts a failed command reported its error on the first line of stderr; returns that line. Runtime
    errors are that one line; usage errors (`usage=True`) may be followed by the usage text."""
    assert proc.returncode != 0, f"expected failure, got 0: {proc.stdout!r}"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, "an error must be reported"
    if not usage:
        assert len(lines) == 1, f"expected one line, got {lines!r}"
    return lines[0]
