#!/usr/bin/env python3
"""Soak test: the release broker under keyed acks=all producers and tailing consumers for a bounded time, with
small segments, retention and compaction running, restarted in the middle with SIGTERM and with SIGKILL; then
every acknowledged record is checked.

    make soak                                   # 120 s
    SOAK_SECONDS=600 make soak
    .venv/bin/python scripts/soak/soak.py --seconds 60 --restarts 2 --rate 1000

Topics (3 partitions each):
  soak-log       nothing deleted (retention.ms=-1, retention.bytes=-1). Every acknowledged record is read back
                 exactly once at the offset its acknowledgement named, offsets are dense from 0, and each
                 producer's acknowledged records are in the order it sent them.
  soak-retained  retention.bytes small, so retention deletes old segments while the test runs. The same checks
                 from the log start offset; acknowledged records below it were deleted legitimately and are counted
                 apart.
  soak-compact   cleanup.policy=compact over a small key space shared by the producers. The latest acknowledged
                 value of every key is present at the offset its acknowledgement named (unless a later write of
                 the key that was never acknowledged, say one in flight at a SIGKILL, reached the log and
                 superseded it: counted apart).
Consumers use assign() with explicit offsets (no consumer group) and check while the test runs that offsets only
grow (and are dense on soak-log); what they read of soak-log must agree with the final read (no offset is reused
for another record after a restart).

Prints the figures and exits 1 on any lost, duplicated or reordered acknowledged record, any anomaly, or a broker
that did not stop cleanly on SIGTERM or did not come back.
"""
import argparse
import collections
import os
import random
import shutil
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPICS = {
    "soak-log": {"segment.bytes": "131072", "retention.ms": "-1", "retention.bytes": "-1"},
    "soak-retained": {"segment.bytes": "65536", "retention.ms": "-1", "retention.bytes": "262144"},
    "soak-compact": {"cleanup.policy": "compact", "segment.bytes": "65536", "min.cleanable.dirty.ratio": "0.01",
                     "retention.ms": "-1"},
}
PARTITIONS = 3
COMPACT_KEYS = 2000


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 120)),
                    help="how long the producers run (SOAK_SECONDS; default 120)")
    ap.add_argument("--restarts", type=int, default=int(os.environ.get("SOAK_RESTARTS", 4)),
                    help="broker restarts spread over the run, alternately SIGTERM and SIGKILL (default 4)")
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=1500, help="records per second per producer (default 1500)")
    ap.add_argument("--bin", default=os.environ.get("SAMSA_BIN", os.path.join(ROOT, ".build", "release", "samsa")))
    ap.add_argument("--keep", action="store_true", help="keep the data directory even when everything passed")
    return ap.parse_args()


class ProducerThread(threading.Thread):
    """Keyed records, round robin over the topics, at a fixed rate, with an idempotent acks=all producer.
    Values are "<producer>:<seq>:" and padding, so every record is unique and names its place in the send order."""

    def __init__(self, index, bootstrap, rate, stop):
        super().__init__(name=f"producer-{index}", daemon=True)
        self.index, self.bootstrap, self.rate, self.stop = index, bootstrap, rate, stop
        self.acked = {t: [] for t in TOPICS}     # topic -> [(partition, offset, key, value)]
        self.sent = 0
        self.errors = collections.Counter()
        self.fatal = False
        self.producers_made = 0
        self.unflushed = 0
        self.rnd = random.Random(index)

    def make_producer(self):
        from confluent_kafka import Producer
        self.producers_made += 1
        self.fatal = False

        def on_error(err):
            self.errors[f"error_cb {err.name()}"] += 1
            if err.fatal():
                self.fatal = True

        return Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "message.timeout.ms": 120000, "reconnect.backoff.ms": 50,
                         "reconnect.backoff.max.ms": 500, "log_level": 2, "compression.type": ["none", "lz4", "zstd"][self.index % 3],
                         "error_cb": on_error})

    def on_delivery(self, err, msg):
        if err is None:
            self.acked[msg.topic()].append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        else:
            self.errors[err.name()] += 1

    def run(self):
        topics = list(TOPICS)
        p = self.make_producer()
        start = time.time()
        while not self.stop.is_set():
            if self.fatal:
                # An idempotent producer that hit a fatal error is finished: its queued records fail (and are not
                # acknowledged); a new producer carries on.
                p.purge()
                p.flush(10)
                p = self.make_producer()
            due = int((time.time() - start) * self.rate)
            while self.sent < due and not self.stop.is_set():
                topic = topics[self.sent % len(topics)]
                seq = self.sent
                if topic == "soak-compact":
                    key = f"key-{self.rnd.randrange(COMPACT_KEYS)}".encode()
                else:
                    key = f"p{self.index}-k{self.rnd.randrange(1000)}".encode()
                value = f"{self.index}:{seq}:".encode() + bytes(self.rnd.getrandbits(8) for _ in range(self.rnd.randrange(20, 200)))
                try:
                    p.produce(topic, key=key, value=value, on_delivery=self.on_delivery)
                    self.sent += 1
                except BufferError:
                    p.poll(0.05)
                p.poll(0)
            p.poll(0.01)
        self.unflushed = p.flush(150)


class TailThread(threading.Thread):
    """Reads a topic from the start of every partition while the test runs; offsets must only grow (and grow by
    one on soak-log). Keeps what it read of soak-log to compare with the final read."""

    def __init__(self, topic, bootstrap, stop):
        super().__init__(name=f"tail-{topic}", daemon=True)
        self.topic, self.bootstrap, self.stop = topic, bootstrap, stop
        self.read = 0
        self.anomalies = []
        self.errors = collections.Counter()
        self.seen = {}   # (partition, offset) -> value, soak-log only

    def run(self):
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "soak-unused", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500, "log_level": 2,
                      "error_cb": lambda err: self.errors.update([f"error_cb {err.name()}"])})
        c.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        last = {}
        dense = self.topic == "soak-log"
        try:
            while not self.stop.is_set():
                for m in c.consume(num_messages=1000, timeout=0.2):
                    if m.error():
                        if m.error().code() != KafkaError._PARTITION_EOF:
                            self.errors[m.error().name()] += 1
                        continue
                    p, off = m.partition(), m.offset()
                    prev = last.get(p)
                    if prev is not None and (off != prev + 1 if dense else off <= prev):
                        self.anomalies.append(f"{self.topic}-{p}: offset {off} read after {prev}")
                    last[p] = off
                    self.read += 1
                    if dense:
                        self.seen[(p, off)] = m.value()
        finally:
            c.close()


def read_all(bootstrap, topic):
    """Everything in the topic now: {partition: (log start, high watermark, [(offset, key, value)])}."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak-unused", "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "error"})
    out = {}
    try:
        for p in range(PARTITIONS):
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            out[p] = (low, high, [])
        c.assign([TopicPartition(topic, p, out[p][0]) for p in range(PARTITIONS)])
        pending = {p for p in range(PARTITIONS) if out[p][1] > out[p][0]}
        deadline = time.time() + 300
        while pending:
            if time.time() > deadline:
                raise RuntimeError(f"{topic}: final read did not reach the end of partitions {sorted(pending)}")
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(m.partition())
                        continue
                    raise RuntimeError(f"{topic}: final read failed: {m.error()}")
                out[m.partition()][2].append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return out


def seq_of(value):
    producer, seq, _ = value.split(b":", 2)
    return int(producer), int(seq)


def verify_log(topic, acked, contents, deletable):
    """Every acknowledged record at its offset exactly once, offsets dense from the log start, each producer's
    records in send order. Returns (figures, failures)."""
    failures = []
    verified = deleted = written_unacked = lost = 0
    acked_values = set()
    by_partition = collections.defaultdict(list)
    for rec in acked:
        by_partition[rec[0]].append(rec)
        acked_values.add(rec[3])
    for p in range(PARTITIONS):
        low, high, records = contents[p]
        if not deletable and low != 0:
            failures.append(f"{topic}-{p}: log start offset {low}, but nothing may be deleted")
        offsets = [r[0] for r in records]
        if offsets != list(range(low, high)):
            missing = sorted(set(range(low, high)) - set(offsets))
            failures.append(f"{topic}-{p}: offsets not dense in {low}..<{high} ({len(offsets)} read, "
                            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''})")
        at = {r[0]: r for r in records}
        counts = collections.Counter(r[2] for r in records)
        written_unacked += sum(1 for v in counts if v not in acked_values)
        for v, n in counts.items():
            if n > 1 and v in acked_values:
                failures.append(f"{topic}-{p}: acknowledged record {seq_of(v)} is in the log {n} times")
        last_seq = {}
        for (_, off, key, value) in sorted(by_partition[p], key=lambda r: r[1]):
            if off < low:
                deleted += 1
                continue
            found = at.get(off)
            if found is None or found[1] != key or found[2] != value:
                lost += 1
                failures.append(f"{topic}-{p}: acknowledged record {seq_of(value)} at offset {off} is "
                                f"{'missing' if found is None else 'a different record'}")
                continue
            producer, seq = seq_of(value)
            if producer in last_seq and seq <= last_seq[producer]:
                failures.append(f"{topic}-{p}: producer {producer}'s record {seq} at offset {off} comes after "
                                f"its record {last_seq[producer]}")
            last_seq[producer] = seq
            verified += 1
    starts = ",".join(str(contents[p][0]) for p in range(PARTITIONS))
    return {"acknowledged": len(acked), "verified": verified, "deleted by retention": deleted,
            "written but not acknowledged": written_unacked, "log start offsets": starts, "lost": lost}, failures


def verify_compacted(topic, acked, contents):
    """The latest acknowledged value of every key is at its offset (or superseded by a later unacknowledged write
    that reached the log); no acknowledged offset holds another record."""
    failures = []
    latest = {}
    for rec in acked:
        if rec[2] not in latest or rec[1] > latest[rec[2]][1]:
            latest[rec[2]] = rec
    acked_at = {(r[0], r[1]): r for r in acked}
    newest_in_log = {}
    at = {}
    for p in range(PARTITIONS):
        low, high, records = contents[p]
        prev = -1
        for off, key, value in records:
            if off <= prev:
                failures.append(f"{topic}-{p}: offset {off} read after {prev}")
            prev = off
            at[(p, off)] = (key, value)
            newest_in_log[key] = (p, off, value)
            ack = acked_at.get((p, off))
            if ack is not None and (ack[2], ack[3]) != (key, value):
                failures.append(f"{topic}-{p}: offset {off} holds another record than the one acknowledged there")
    verified = superseded = lost = 0
    for key, (p, off, _, value) in latest.items():
        if at.get((p, off)) == (key, value):
            verified += 1
            continue
        newer = newest_in_log.get(key)
        if newer is not None and newer[0] == p and newer[1] > off and (p, newer[1]) not in acked_at:
            superseded += 1
            continue
        lost += 1
        failures.append(f"{topic}-{p}: the latest acknowledged value of {key!r} (offset {off}) is gone")
    return {"acknowledged": len(acked), "records left by compaction": sum(len(contents[p][2]) for p in range(PARTITIONS)),
            "keys": len(latest), "latest values verified": verified,
            "superseded by unacknowledged writes": superseded, "lost": lost}, failures


def main():
    args = parse_args()
    os.environ["SAMSA_BIN"] = os.path.abspath(args.bin)
    sys.path.insert(0, os.path.join(ROOT, "Tests", "compat"))
    from conftest import Broker
    from confluent_kafka.admin import AdminClient, NewTopic

    if not os.access(args.bin, os.X_OK):
        sys.exit(f"soak: no broker binary at {args.bin} (make release)")
    work = tempfile.mkdtemp(prefix="samsa-soak-")
    broker = Broker(os.path.join(work, "data"), {
        "log.segment.bytes": "131072",
        "log.retention.check.interval.ms": "1000",
        "log.cleaner.backoff.ms": "1000",
        "log.segment.delete.delay.ms": "1000",
    }, log_path=os.path.join(work, "broker.log")).start()
    print(f"soak: broker on {broker.bootstrap}, data in {work}; {args.seconds:.0f} s, {args.producers} producers "
          f"at {args.rate:.0f} records/s each, {args.restarts} restarts", flush=True)

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 2})
    for name, future in admin.create_topics([NewTopic(t, PARTITIONS, 1, config=c) for t, c in TOPICS.items()]).items():
        future.result(30)
    del admin

    stop_producing, stop_tailing = threading.Event(), threading.Event()
    producers = [ProducerThread(i, broker.bootstrap, args.rate, stop_producing) for i in range(args.producers)]
    tails = [TailThread(t, broker.bootstrap, stop_tailing) for t in TOPICS]
    for t in producers + tails:
        t.start()

    failures = []
    restarts = collections.Counter()
    start = time.time()
    for k in range(args.restarts):
        time.sleep(max(0.0, start + args.seconds * (k + 1) / (args.restarts + 1) - time.time()))
        how = "SIGTERM" if k % 2 == 0 else "SIGKILL"
        acked_so_far = sum(len(v) for pt in producers for v in pt.acked.values())
        if how == "SIGTERM":
            code = broker.stop(timeout=60)
            if code != 0:
                failures.append(f"restart {k + 1}: the broker exited with {code} on SIGTERM")
        else:
            broker.kill()
        t0 = time.time()
        try:
            broker.start(timeout=120)
        except RuntimeError as e:
            failures.append(f"restart {k + 1} ({how}): {e}")
            break
        restarts[how] += 1
        print(f"soak: {time.time() - start:6.1f} s: restart {k + 1} ({how}) after {acked_so_far} acknowledged "
              f"records; up again in {time.time() - t0:.1f} s", flush=True)
    time.sleep(max(0.0, start + args.seconds - time.time()))

    stop_producing.set()
    for t in producers:
        t.join()
    # The tails catch up, then retention gets a few passes with no new data before the final read.
    time.sleep(5)
    stop_tailing.set()
    for t in tails:
        t.join()

    acked = {t: [r for pt in producers for r in pt.acked[t]] for t in TOPICS}
    figures = {}
    if broker.alive():
        contents = {t: read_all(broker.bootstrap, t) for t in TOPICS}
        figures["soak-log"], f1 = verify_log("soak-log", acked["soak-log"], contents["soak-log"], deletable=False)
        figures["soak-retained"], f2 = verify_log("soak-retained", acked["soak-retained"], contents["soak-retained"],
                                                  deletable=True)
        figures["soak-compact"], f3 = verify_compacted("soak-compact", acked["soak-compact"], contents["soak-compact"])
        failures += f1 + f2 + f3
        # What the tail read of soak-log while the broker was restarted must be what is there now.
        log_now = {(p, off): value for p in range(PARTITIONS) for off, _, value in contents["soak-log"][p][2]}
        contradicted = [k for k, v in next(t for t in tails if t.topic == "soak-log").seen.items() if log_now.get(k) != v]
        if contradicted:
            failures.append(f"soak-log: {len(contradicted)} records read during the run differ from the final "
                            f"read, e.g. partition {contradicted[0][0]} offset {contradicted[0][1]}")
        code = broker.stop(timeout=60)
        if code != 0:
            failures.append(f"final stop: the broker exited with {code} on SIGTERM")
    else:
        failures.append(f"the broker is not running at the end:\n{broker.log_tail()}")

    for t in tails:
        failures += t.anomalies[:20]
    unflushed = sum(pt.unflushed for pt in producers)
    if unflushed:
        failures.append(f"{unflushed} records were still unacknowledged 150 s after the producers stopped")

    total_acked = sum(len(v) for v in acked.values())
    if total_acked == 0:
        failures.append("nothing was acknowledged")
    total_verified = (figures.get("soak-log", {}).get("verified", 0) + figures.get("soak-retained", {}).get("verified", 0)
                      + figures.get("soak-compact", {}).get("latest values verified", 0))
    legit = (figures.get("soak-retained", {}).get("deleted by retention", 0)
             + figures.get("soak-compact", {}).get("acknowledged", 0) - figures.get("soak-compact", {}).get("keys", 0)
             + figures.get("soak-compact", {}).get("superseded by unacknowledged writes", 0))

    print()
    for topic, numbers in figures.items():
        print(f"{topic:14s} " + ", ".join(f"{k} {v}" for k, v in numbers.items()))
    errors = collections.Counter()
    for pt in producers:
        errors.update(pt.errors)
    print(f"producers      sent {sum(pt.sent for pt in producers)}, producer instances "
          f"{sum(pt.producers_made for pt in producers)}, delivery/client errors {dict(errors) or 0}")
    tail_errors = collections.Counter()
    for t in tails:
        tail_errors.update(t.errors)
    print(f"consumers      read {sum(t.read for t in tails)} records while running, anomalies "
          f"{sum(len(t.anomalies) for t in tails)}, client errors {dict(tail_errors) or 0}")
    print()
    print(f"records acknowledged: {total_acked}")
    print(f"records verified:     {total_verified} (plus {legit} legitimately removed: deleted by retention below "
          f"the log start offset, or older values of compacted keys)")
    print(f"restarts survived:    {sum(restarts.values())} ({restarts['SIGTERM']} SIGTERM, {restarts['SIGKILL']} SIGKILL)")
    lost = sum(numbers.get("lost", 0) for numbers in figures.values())
    print(f"lost = {lost}" + ("" if figures else " (not verified: the broker was down)"))
    if failures:
        print("\nFAILED:")
        for f in failures[:50]:
            print("  " + f)
        print(f"data and broker log kept in {work}")
        return 1
    if args.keep:
        print(f"data and broker log kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
