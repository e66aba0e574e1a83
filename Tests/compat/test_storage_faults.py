"""A full disk (ENOSPC) and a failing disk (EIO) under the real broker, injected with an LD_PRELOAD shim
(faultshim/faultshim.c, compiled here) that fails writes or fsyncs on the files of one partition. File permissions
cannot fake this: CI runs as root.

What "offline for writes" means in Samsa: when a write, fsync or segment roll of a partition's files fails, that
partition's log refuses every later append, and every produce to it gets KAFKA_STORAGE_ERROR (56), even once the
disk works again, until the broker restarts and reopens the log from its files. Nothing half-written becomes
visible: the failed append does not move the log end (a partial write is cut off; after a failed fsync the
unflushed tail is cut back to the last fsynced offset, which with flush.messages=1 is the last acknowledged
record), so the high watermark stays at the last acknowledged record. Fetches of the partition keep working, other
partitions keep taking writes, and the broker keeps running. Unlike Kafka, which takes the whole log directory
offline, only the partition whose files failed goes offline; Metadata still names this broker as its leader (there
is no other replica to move to), so clients keep sending to it and get error 56 back.
"""
import os
import shutil
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from clients import check_records, consume_confluent, create_topic, make_records, produce_confluent

SHIM_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faultshim", "faultshim.c")


@pytest.fixture(scope="module")
def faultshim(tmp_path_factory):
    """The shim, compiled with the first C compiler found (the Swift toolchain brings clang)."""
    compiler = next((c for c in (os.environ.get("CC"), "cc", "clang", "gcc") if c and shutil.which(c)), None)
    if compiler is None:
        pytest.fail("no C compiler (cc, clang or gcc) to build the fault shim")
    out = str(tmp_path_factory.mktemp("faultshim") / "faultshim.so")
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", out, SHIM_SOURCE, "-ldl"], check=True)
    return out


class Faults:
    """The shim's control file: `set` switches a fault on, `clear` switches everything off."""

    def __init__(self, path):
        self.path = path
        self.clear()

    def set(self, errno_name, substring, ops="write,sync"):
        with open(self.path, "w") as f:
            f.write(f"{errno_name} {substring} {ops}\n")

    def clear(self):
        open(self.path, "w").close()

    def hits(self):
        try:
            with open(self.path + ".hits") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


def produce_one_result(bootstrap, topic, records, timestamps=True):
    """Produces with no retries and a short timeout; returns the delivery errors (None for a success). Without
    `timestamps` the records get the current time."""
    results = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False, "retries": 0,
                  "message.timeout.ms": 10000, "linger.ms": 0})
    for r in records:
        p.produce(topic, key=r["key"], value=r["value"], partition=r["partition"],
                  timestamp=r["timestamp"] if timestamps else 0, on_delivery=lambda err, msg: results.append(err))
    assert p.flush(30) == 0
    return results


def watermarks(bootstrap, topic, partition=0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


# (errno, operations failed, topic config of the faulted topic, whether the failed append rolls a segment first,
# how the broker is restarted afterwards)
CASES = {
    # The append's write of the segment.
    "enospc-write": ("ENOSPC", "write", {}, False, "sigterm"),
    "eio-write": ("EIO", "write", {}, False, "sigkill"),
    # The records carry the current time, years after the segment's first (clients.BASE_TS), so the append rolls a
    # new segment first (segment.ms, 7 days by default): the roll's writes of the old segment's indexes fail.
    "enospc-roll": ("ENOSPC", "write", {}, True, "sigkill"),
    # Every append fsyncs (flush.messages=1), so the fsync after the write is what fails.
    "eio-fsync": ("EIO", "sync", {"flush.messages": "1"}, False, "sigterm"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_storage_error_takes_the_partition_offline_for_writes(make_broker, faultshim, tmp_path, topic, case):
    errno_name, ops, victim_config, rolls, restart = CASES[case]
    faults = Faults(str(tmp_path / "faults"))
    broker = make_broker(env={"LD_PRELOAD": faultshim, "SAMSA_FAULT_CONTROL": faults.path})
    victim, other = topic + "-victim", topic + "-other"
    create_topic(broker.bootstrap, victim, 1, config=victim_config)
    create_topic(broker.bootstrap, other, 1)

    acked = make_records(300, 1, seed=56)
    produce_confluent(broker.bootstrap, victim, acked, acks="all")
    other_records = make_records(300, 1, seed=57)
    produce_confluent(broker.bootstrap, other, other_records[:150], acks="all")

    # The disk fails under the victim's partition directory (its segment, index and snapshot files, and the
    # directory itself for fsyncs).
    faults.set(errno_name, f"/{victim}-0", ops)
    refused = make_records(20, 1, seed=58)
    errors = produce_one_result(broker.bootstrap, victim, refused, timestamps=not rolls)
    assert errors and all(e is not None and e.code() == KafkaError.KAFKA_STORAGE_ERROR for e in errors), errors
    hits = faults.hits()
    op = "write" if ops == "write" else "sync"
    assert any(h.startswith(f"{op} {errno_name} ") for h in hits), hits
    # The failure was met where the case means it to be: the segment itself, or the indexes for a roll.
    assert any(h.endswith(".timeindex") or h.endswith(".index") for h in hits) == rolls, hits
    assert f"produce to {victim}-0: I/O error" in broker.log_text()

    # The broker is up, the other topic takes writes, and the victim's acknowledged records are all there, with
    # nothing of the failed produce after them.
    assert broker.alive()
    produce_confluent(broker.bootstrap, other, other_records[150:], acks="all")
    check_records(consume_confluent(broker.bootstrap, other, 1, len(other_records)), other_records, 1)
    check_records(consume_confluent(broker.bootstrap, victim, 1, len(acked)), acked, 1)
    assert watermarks(broker.bootstrap, victim) == (0, len(acked))

    # Offline means offline until the broker restarts: a disk that works again does not bring the log back.
    faults.clear()
    errors = produce_one_result(broker.bootstrap, victim, refused[:3])
    assert all(e is not None and e.code() == KafkaError.KAFKA_STORAGE_ERROR for e in errors), errors
    assert watermarks(broker.bootstrap, victim) == (0, len(acked))
    assert broker.alive()

    # After a restart (the fault off) every acknowledged record is intact and the partition takes writes again.
    if restart == "sigterm":
        assert broker.stop() == 0, broker.log_tail()
    else:
        broker.kill()
    broker.start()
    assert watermarks(broker.bootstrap, victim) == (0, len(acked))
    check_records(consume_confluent(broker.bootstrap, victim, 1, len(acked)), acked, 1)
    check_records(consume_confluent(broker.bootstrap, other, 1, len(other_records)), other_records, 1)
    more = make_records(330, 1, seed=59)[300:]
    produce_confluent(broker.bootstrap, victim, more, acks="all")
    assert watermarks(broker.bootstrap, victim) == (0, len(acked) + len(more))
    got = consume_confluent(broker.bootstrap, victim, 1, len(acked) + len(more))
    assert [(c[1], c[2], c[3]) for c in got] == [(i, r["key"], r["value"]) for i, r in enumerate(acked + more)]
