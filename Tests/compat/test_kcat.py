"""kcat (librdkafka's command-line client): -L, -P, -C -e, -Q."""
import shutil
import subprocess

import pytest

from clients import create_topic

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (make venv installs it)")


def kcat(*args, input=None, timeout=30):
    done = subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=timeout)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_kcat_lists_the_broker_and_topics(broker, topic):
    create_topic(broker.bootstrap, topic, 2)
    out = kcat("-b", broker.bootstrap, "-L")
    assert f"broker 1 at 127.0.0.1:{broker.port}" in out
    assert f'topic "{topic}" with 2 partitions' in out


def test_kcat_produces_and_consumes_to_the_end(broker, topic):
    lines = [f"key{i}:value {i} " + "x" * (i % 50) for i in range(500)]
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K", ":", input=("\n".join(lines) + "\n").encode())
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o %k:%s\n")
    got = out.splitlines()
    assert got == [f"{i} {line}" for i, line in enumerate(lines)]


def test_kcat_queries_offsets_by_time(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i, ts in enumerate([1_000_000, 2_000_000, 3_000_000]):
        p.produce(topic, value=f"v{i}".encode(), partition=0, timestamp=ts)
    assert p.flush(10) == 0
    out = kcat("-b", broker.bootstrap, "-Q", "-t", f"{topic}:0:1500000")
    assert f"{topic} [0] offset 1" in out
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "s@2000000", "-e", "-f", "%o %T %s\n")
    assert out.splitlines() == ["1 2000000 v1", "2 3000000 v2"]
