"""Robustness of the group coordinator and the idempotent producer: exactly-once delivery of 100,000 idempotent
records through a proxy that keeps cutting the connections and across a SIGKILL of the broker; group members that
consume and commit through those cuts; kcat's balanced consumer; three-member groups that lose a member; bad and
random group requests over raw sockets; and a group restarted before its first SyncGroup."""
import asyncio
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import uuid

import aiokafka
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from clients import create_topic
from wire import api_versions, connect, frame, read_response, string

GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}
RECORDS = 100_000


def group_name():
    return "g-" + uuid.uuid4().hex[:12]


def assert_still_serving(broker):
    assert broker.alive(), broker.log_tail()
    with connect(broker) as sock:
        sock.sendall(api_versions(4242))
        correlation_id, body = read_response(sock)
        assert correlation_id == 4242
        assert struct.unpack(">h", body[:2])[0] == 0


# MARK: A proxy that drops every connection periodically


class ChaosProxy:
    """Forwards loopback TCP connections to `target_port`; while `dropping` is set, shuts down every open
    connection (both sides) each `interval` seconds. Before each cut it swallows the broker's responses for `mute`
    seconds, so requests the broker has carried out (appended batches) go unanswered and the client retries them.
    Clients see the broker go away mid-request or mid-response and reconnect; the broker sees half-read requests."""

    def __init__(self, interval=0.3, mute=0.05):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.target_port = None
        self.interval = interval
        self.mute = mute
        self.muted = threading.Event()
        self.dropping = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.open = set()
        self.drops = 0  # rounds in which at least one connection was cut
        self.connections = 0
        # Produce requests whose response the broker sent and the proxy swallowed: the client must send those
        # batches again, and the broker must recognise them as duplicates.
        self.lost_produce_responses = 0
        self.threads = [threading.Thread(target=self._accept, daemon=True),
                        threading.Thread(target=self._chaos, daemon=True)]
        for t in self.threads:
            t.start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self.lock:
                self.open.add(pair)
                self.connections += 1
            produce_ids = set()  # correlation ids of the Produce requests on this connection
            threading.Thread(target=self._pump, args=(client, upstream, pair, False, produce_ids), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair, True, produce_ids), daemon=True).start()

    def _pump(self, src, dst, pair, from_broker, produce_ids):
        pending = bytearray()  # the stream from the last frame boundary on
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                lost = from_broker and self.muted.is_set()
                pending += data
                while len(pending) >= 12:
                    (size,) = struct.unpack_from(">i", pending)
                    if len(pending) < 4 + size:
                        break
                    if from_broker:
                        (correlation_id,) = struct.unpack_from(">i", pending, 4)
                        if lost and correlation_id in produce_ids:
                            self.lost_produce_responses += 1
                    else:
                        api_key, _, correlation_id = struct.unpack_from(">hhi", pending, 4)
                        if api_key == 0:
                            produce_ids.add(correlation_id)
                    del pending[:4 + size]
                if lost:
                    continue  # the response is lost; the connection will be cut
                dst.sendall(data)
        except OSError:
            pass
        self._cut(pair)

    @staticmethod
    def _shutdown(pair):
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _cut(self, pair):
        self._shutdown(pair)
        with self.lock:
            if pair not in self.open:
                return
            self.open.discard(pair)
        for s in pair:
            s.close()

    def _chaos(self):
        while not self.stopped.wait(self.interval - self.mute):
            if not self.dropping.is_set():
                continue
            self.muted.set()
            time.sleep(self.mute)
            with self.lock:
                pairs = list(self.open)
            if pairs:
                self.drops += 1
            for pair in pairs:
                # Shutting down wakes both pump threads, which then close the sockets.
                self._shutdown(pair)
            self.muted.clear()

    def close(self):
        self.stopped.set()
        for t in self.threads:
            t.join(5)
        self.listener.close()
        with self.lock:
            pairs = list(self.open)
        for pair in pairs:
            self._cut(pair)


# MARK: 100,000 idempotent records, exactly once


def produce_sequenced(bootstrap, topic, partitions, on_progress=None):
    """Sends RECORDS records, record i to partition i % partitions with payload `i` (zero-padded), through an
    idempotent producer with acks=all, in paced chunks so that the faults land mid-stream. Returns the delivery
    errors."""
    errors = []
    delivered = [0]

    def on_delivery(err, msg):
        if err:
            errors.append(err)
        else:
            delivered[0] += 1

    # Without metadata.recovery.strategy=none, librdkafka 2.16 "re-bootstraps" whenever every broker connection is
    # down, which through this proxy is every 0.3 s: it forgets the broker and the partition leaders each time and
    # never gets as far as producing (it makes no progress in 60 s). That is the client's choice, not the broker's.
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                  "batch.size": 65536, "message.timeout.ms": 60000, "reconnect.backoff.ms": 20,
                  "reconnect.backoff.max.ms": 250, "retry.backoff.ms": 20, "queue.buffering.max.messages": 200000,
                  "metadata.recovery.strategy": "none"})
    chunk, pace = 1000, 0.04  # 100 chunks, one every 40 ms: about 4 s of producing
    began = time.time()
    for start in range(0, RECORDS, chunk):
        for i in range(start, start + chunk):
            value = b"%08d" % i + b"." * (i % 13)
            while True:
                try:
                    p.produce(topic, value=value, partition=i % partitions, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.05)
        p.poll(0)
        time.sleep(max(0.0, began + (start // chunk + 1) * pace - time.time()))
        if on_progress:
            on_progress(delivered[0])
    remaining = p.flush(60)
    assert remaining == 0, f"{remaining} records undelivered after 60 s; errors {errors[:3]}"
    if on_progress:
        on_progress(delivered[0])
    return errors


def check_exactly_once(bootstrap, topic, partitions):
    """Reads every partition from the beginning (assign, no group): exactly RECORDS records, each sequence
    number once, in produce order within its partition, and nothing beyond them in the log."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-" + uuid.uuid4().hex[:6],
                  "enable.auto.commit": False, "enable.partition.eof": True, "fetch.max.bytes": 8 << 20})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seqs = {p: [] for p in range(partitions)}
    offsets = {p: [] for p in range(partitions)}
    eof = set()
    try:
        deadline = time.time() + 40
        while len(eof) < partitions and time.time() < deadline:
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())  # the producer is done: the end of the log is final
                        continue
                    raise AssertionError(m.error())
                eof.discard(m.partition())
                seqs[m.partition()].append(int(m.value()[:8]))
                offsets[m.partition()].append(m.offset())
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in range(partitions)}
    finally:
        c.close()
    total = sum(len(s) for s in seqs.values())
    every = sorted(s for ss in seqs.values() for s in ss)
    dupes = len(every) - len(set(every))
    assert dupes == 0, f"{dupes} duplicated records (of {total})"
    assert total == RECORDS, f"read {total} records, expected {RECORDS}; missing {len(set(range(RECORDS)) - set(every))}"
    assert every == list(range(RECORDS))
    for p in range(partitions):
        assert all(s % partitions == p for s in seqs[p]), f"partition {p} holds another partition's records"
        assert seqs[p] == sorted(seqs[p]), f"partition {p}: records out of produce order"
        assert offsets[p] == list(range(len(offsets[p]))), f"partition {p}: offsets not dense from 0"
        assert ends[p] == (0, len(seqs[p])), f"partition {p}: log ends at {ends[p]}, read {len(seqs[p])}"


@pytest.mark.parametrize("partitions", [1, 3])
def test_idempotent_producer_through_a_proxy_that_drops_connections(make_broker, topic, partitions):
    proxy = ChaosProxy(interval=0.3)
    try:
        broker = make_broker({**GROUP_OVERRIDES, "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
        proxy.target_port = broker.port
        bootstrap = f"127.0.0.1:{proxy.port}"
        create_topic(bootstrap, topic, partitions)
        proxy.dropping.set()
        errors = produce_sequenced(bootstrap, topic, partitions)
        proxy.dropping.clear()
        assert not errors, errors[:3]
        assert proxy.drops >= 3, f"the proxy cut connections only {proxy.drops} times"
        assert proxy.lost_produce_responses > 0, "no Produce response was lost: deduplication went untested"
        check_exactly_once(bootstrap, topic, partitions)
        assert_still_serving(broker)
    finally:
        proxy.close()


@pytest.mark.parametrize("partitions", [1, 3])
def test_idempotent_producer_across_a_broker_sigkill(make_broker, topic, partitions):
    # Through the proxy, without its periodic cuts: it holds back the broker's Produce responses just before the
    # SIGKILL, so batches the broker appended were never acknowledged. After the restart the producer sends them
    # again, and the broker must know them from the producer state it rebuilt from its log.
    proxy = ChaosProxy()
    try:
        broker = make_broker({**GROUP_OVERRIDES, "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
        proxy.target_port = broker.port
        bootstrap = f"127.0.0.1:{proxy.port}"
        create_topic(bootstrap, topic, partitions)
        restarted = threading.Event()
        killed_at = []

        def kill_and_start():
            proxy.muted.set()
            deadline = time.time() + 5
            while proxy.lost_produce_responses == 0 and time.time() < deadline:
                time.sleep(0.005)
            broker.kill()
            proxy.muted.clear()
            broker.start()
            restarted.set()

        restarter = None

        def on_progress(delivered):
            nonlocal restarter
            if restarter is None and delivered >= RECORDS // 3:
                killed_at.append(delivered)
                restarter = threading.Thread(target=kill_and_start)
                restarter.start()

        errors = produce_sequenced(bootstrap, topic, partitions, on_progress)
        assert restarter is not None
        restarter.join(30)
        assert restarted.is_set()
        assert killed_at[0] < RECORDS, "the broker was killed after the last delivery"
        assert proxy.lost_produce_responses > 0, "no Produce response was lost at the kill"
        assert not errors, errors[:3]
        check_exactly_once(bootstrap, topic, partitions)
    finally:
        proxy.close()


def test_two_group_members_consume_and_commit_through_a_proxy_that_drops_connections(make_broker, topic):
    # Every 0.5 s the coordinator connection goes too: JoinGroup, SyncGroup, Heartbeat and OffsetCommit requests
    # are cut off mid-flight, parked requests lose their connection, and the members rejoin and commit again.
    # After each cut librdkafka looks for the coordinator again before it heartbeats, so it heartbeats far less
    # often than every 300 ms; sessions (6 s) may run out and the group rebalance, which the members survive.
    # (With cuts every 0.3 s that goes on for tens of seconds at times: the client's pace, not the broker's.)
    proxy = ChaosProxy(interval=0.5)
    try:
        broker = make_broker({**GROUP_OVERRIDES, "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
        proxy.target_port = broker.port
        bootstrap = f"127.0.0.1:{proxy.port}"
        create_topic(bootstrap, topic, 3)
        count = 9000
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        for i in range(count):
            p.produce(topic, value=b"%06d" % i, partition=i % 3)
        assert p.flush(30) == 0
        group = group_name()
        # Small fetches, so that consuming takes many requests and many cuts.
        members = [Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                             "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
                             "metadata.recovery.strategy": "none", "reconnect.backoff.ms": 20,
                             "reconnect.backoff.max.ms": 250, "max.partition.fetch.bytes": 4096})
                   for _ in range(2)]
        for c in members:
            c.subscribe([topic])
        checker = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        proxy.dropping.set()
        seen = set()
        commits = 0
        try:
            # Consumed over about 3 s (no faster), so that the cuts land all along; at most 6 s with cuts.
            began = time.time()
            while len(seen) < count and time.time() < began + 6:
                if len(seen) > count * (time.time() - began) / 3:
                    time.sleep(0.05)
                    continue
                for c in members:
                    messages = c.consume(num_messages=200, timeout=0.1)
                    seen.update(int(m.value()) for m in messages if not m.error())
                    if messages:
                        try:
                            c.commit(asynchronous=False)
                            commits += 1
                        except KafkaException:
                            pass  # cut off mid-commit: the next one covers it
            # Without cuts, the members carry on until what they committed reaches the end of every partition
            # (a commit cut off at the end, or a partition that moved, is made up for here).
            proxy.dropping.clear()
            wanted = [count // 3] * 3
            committed = None
            deadline = time.time() + 20
            while committed != wanted and time.time() < deadline:
                for c in members:
                    messages = c.consume(num_messages=500, timeout=0.1)
                    seen.update(int(m.value()) for m in messages if not m.error())
                    try:
                        c.commit(asynchronous=False)
                    except KafkaException:
                        pass  # nothing consumed since the last commit, or a rebalance still settling: go on
                try:
                    # Asked by a consumer outside the group (an OffsetFetch only): a member may be busy rejoining.
                    committed = [tp.offset for tp in
                                 checker.committed([TopicPartition(topic, part) for part in range(3)], timeout=5)]
                except KafkaException:
                    committed = None
        finally:
            for c in members:
                c.close()
            checker.close()
        assert len(seen) == count, f"saw {len(seen)} of {count} records"
        assert proxy.drops >= 3 and commits > 0
        assert committed == wanted
        assert_still_serving(broker)
    finally:
        proxy.close()


# MARK: kcat's balanced consumer


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (make venv installs it)")
def test_two_kcat_balanced_consumers_print_every_record_once(make_broker, topic):
    # The records are produced once both kcats hold their partitions, so no rebalance happens while they read
    # (kcat -G with -o beginning starts every partition it is assigned from the beginning: a rebalance midway
    # would print records twice, by design). They are stopped once every record has been printed.
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 6)
    group = group_name()
    args = ["kcat", "-b", broker.bootstrap, "-G", group, "-o", "beginning", "-u", "-f", "%t %p %o %s\n",
            "-X", "session.timeout.ms=10000", "-X", "heartbeat.interval.ms=500", "-X", "statistics.interval.ms=0",
            topic]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [[], []]
    errs = [[], []]

    def drain(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    threads = []
    for k, proc in enumerate(procs):
        threads += [threading.Thread(target=drain, args=(proc.stdout, outs[k]), daemon=True),
                    threading.Thread(target=drain, args=(proc.stderr, errs[k]), daemon=True)]
    for th in threads:
        th.start()

    def assigned(k):
        """The partitions kcat k reported in its last "Group ... rebalanced ... assigned:" line."""
        lines = [e for e in errs[k] if "rebalanced" in e]
        return set(map(int, re.findall(rf"{re.escape(topic)} \[(\d+)\]", lines[-1]))) if lines else set()

    values = [f"kc-{i}" for i in range(6000)]
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (assigned(0) and assigned(1)
                                               and assigned(0) | assigned(1) == set(range(6))
                                               and assigned(0).isdisjoint(assigned(1))):
            time.sleep(0.1)
        partitions = [assigned(0), assigned(1)]
        assert partitions[0] and partitions[1], f"kcat stderr: {errs[0][-5:]} / {errs[1][-5:]}"
        assert partitions[0].isdisjoint(partitions[1]) and partitions[0] | partitions[1] == set(range(6))
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
        for i, v in enumerate(values):
            p.produce(topic, value=v.encode(), partition=i % 6)
        assert p.flush(30) == 0
        deadline = time.time() + 30
        while time.time() < deadline and len(outs[0]) + len(outs[1]) < len(values):
            time.sleep(0.1)
        time.sleep(0.5)  # anything printed twice would show now
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    got = []
    for k in range(2):
        lines = [line.split(" ", 3) for line in outs[k]]
        assert all(line[0] == topic for line in lines)
        got += [(int(part), int(offset), value) for _, part, offset, value in lines]
        # Each kcat printed records of its own partitions only.
        assert {int(line[1]) for line in lines} <= partitions[k]
    values_got = [g[2] for g in got]
    assert len(values_got) == len(set(values_got)), \
        f"{len(values_got) - len(set(values_got))} records printed twice"
    assert sorted(values_got) == sorted(values)
    for part, offset, value in got:
        i = int(value[3:])
        assert (part, offset) == (i % 6, i // 6)
    assert sorted(map(len, partitions)) == [3, 3]


# MARK: Three members, one leaves


def check_split(assignments, partitions):
    sets = [set(a) for a in assignments]
    union = set().union(*sets)
    return (all(sets) and union == set(range(partitions))
            and sum(len(s) for s in sets) == partitions)


def produce_one_per_partition(bootstrap, topic, partitions):
    """One record to each partition, the (partition, value) pairs `one_per_partition` expects."""
    p = Producer({"bootstrap.servers": bootstrap})
    for part in range(partitions):
        p.produce(topic, value=f"after-{part}".encode(), partition=part)
    assert p.flush(10) == 0


def one_per_partition(partitions):
    """What a member owning `partitions` receives of `produce_one_per_partition`, sorted."""
    return [(part, f"after-{part}".encode()) for part in partitions]


def test_three_confluent_members_split_six_partitions_and_take_over_when_one_leaves(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 6)
    group = group_name()
    session_ms = 10000
    members = [Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "session.timeout.ms": session_ms, "heartbeat.interval.ms": 300,
                         "partition.assignment.strategy": "roundrobin"}) for _ in range(3)]
    received = {i: [] for i in range(3)}

    def poll_all(active):
        for i in active:
            for m in members[i].consume(num_messages=100, timeout=0.05):
                if not m.error():
                    received[i].append((m.partition(), m.value()))

    def assignments(active):
        return [sorted(tp.partition for tp in members[i].assignment()) for i in active]

    for c in members:
        c.subscribe([topic])
    closed = set()
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not check_split(assignments(range(3)), 6):
            poll_all(range(3))
        split = assignments(range(3))
        assert check_split(split, 6), f"assignments {split}"
        assert [len(a) for a in split] == [2, 2, 2]

        # Member 0 leaves (LeaveGroup): the other two take its partitions well within the session timeout.
        members[0].close()
        closed.add(0)
        left_at = time.time()
        while time.time() < left_at + session_ms / 1000 and not check_split(assignments([1, 2]), 6):
            poll_all([1, 2])
        took = time.time() - left_at
        after = assignments([1, 2])
        assert check_split(after, 6), f"after the leave: {after} ({took:.1f} s)"
        assert took < session_ms / 1000 * 0.8, f"takeover took {took:.1f} s"
        assert set(split[0]) <= set(after[0]) | set(after[1])

        # Both survivors fetch their partitions: one record per partition reaches its new owner.
        produce_one_per_partition(broker.bootstrap, topic, 6)
        deadline = time.time() + 20
        while time.time() < deadline and len(received[1]) + len(received[2]) < 6:
            poll_all([1, 2])
        for i, owned in zip([1, 2], after):
            assert sorted(received[i]) == one_per_partition(owned)
    finally:
        for i, c in enumerate(members):
            if i not in closed:
                c.close()


def test_three_aiokafka_members_split_six_partitions_and_take_over_when_one_leaves(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 6)
    group = group_name()
    session_ms = 10000

    async def run():
        members = [aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                                             auto_offset_reset="earliest", session_timeout_ms=session_ms,
                                             heartbeat_interval_ms=300) for _ in range(3)]
        received = {i: [] for i in range(3)}
        for c in members:
            await c.start()
        active = [0, 1, 2]

        async def poll(indices):
            for i in indices:
                for _, messages in (await members[i].getmany(timeout_ms=50)).items():
                    received[i] += [(m.partition, m.value) for m in messages]

        def assignments(indices):
            return [sorted(tp.partition for tp in members[i].assignment()) for i in indices]

        try:
            deadline = time.time() + 30
            while time.time() < deadline and not check_split(assignments(active), 6):
                await poll(active)
            split = assignments(active)
            assert check_split(split, 6), f"assignments {split}"
            assert [len(a) for a in split] == [2, 2, 2]

            await members[0].stop()
            active = [1, 2]
            left_at = time.time()
            while time.time() < left_at + session_ms / 1000 and not check_split(assignments(active), 6):
                await poll(active)
            took = time.time() - left_at
            after = assignments(active)
            assert check_split(after, 6), f"after the leave: {after} ({took:.1f} s)"
            assert took < session_ms / 1000 * 0.8, f"takeover took {took:.1f} s"

            produce_one_per_partition(broker.bootstrap, topic, 6)
            deadline = time.time() + 20
            while time.time() < deadline and len(received[1]) + len(received[2]) < 6:
                await poll(active)
            for i, owned in zip(active, after):
                assert sorted(received[i]) == one_per_partition(owned)
        finally:
            for i in active:
                await members[i].stop()

    asyncio.run(run())


# MARK: Bad group requests over a raw socket


def bytes_(b):
    return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b


def array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(">" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(">" + fmt)
        return v

    def string(self):
        n = self.take("h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes(self):
        n = self.take("i")
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b


def subscription(topics):
    """ConsumerProtocolSubscription v0: version, topics, user data."""
    return struct.pack(">h", 0) + array([string(t) for t in topics]) + bytes_(None)


class RawClient:
    def __init__(self, broker):
        self.sock = connect(broker, timeout=15)
        self.correlation_id = 0

    def call(self, api_key, version, body):
        self.correlation_id += 1
        self.sock.sendall(frame(api_key, version, self.correlation_id, body))
        answer = read_response(self.sock)
        assert answer is not None, f"the broker closed the connection on api {api_key} v{version}"
        assert answer[0] == self.correlation_id
        return Reader(answer[1])

    def join_v1(self, group, member_id, protocol_type, protocols, session_ms=30000):
        body = (string(group) + struct.pack(">ii", session_ms, session_ms) + string(member_id) + string(protocol_type)
                + array([string(name) + bytes_(meta) for name, meta in protocols]))
        r = self.call(11, 1, body)
        error, generation = r.take("h"), r.take("i")
        protocol, leader, member = r.string(), r.string(), r.string()
        members = [(r.string(), r.bytes()) for _ in range(r.take("i"))]
        return {"error": error, "generation": generation, "protocol": protocol, "leader": leader,
                "member_id": member, "members": members}

    def sync_v1(self, group, generation, member_id, assignments):
        body = (string(group) + struct.pack(">i", generation) + string(member_id)
                + array([string(m) + bytes_(a) for m, a in assignments]))
        r = self.call(14, 1, body)
        r.take("i")  # throttle
        return r.take("h"), r.bytes()

    def heartbeat_v1(self, group, generation, member_id):
        r = self.call(12, 1, string(group) + struct.pack(">i", generation) + string(member_id))
        r.take("i")
        return r.take("h")

    def commit_v2(self, group, generation, member_id, offsets):
        """offsets: {topic: {partition: offset}} -> {(topic, partition): error}."""
        body = (string(group) + struct.pack(">i", generation) + string(member_id) + struct.pack(">q", -1)
                + array([string(t) + array([struct.pack(">iq", p, o) + struct.pack(">h", -1) for p, o in parts.items()])
                         for t, parts in offsets.items()]))
        r = self.call(8, 2, body)
        out = {}
        for _ in range(r.take("i")):
            name = r.string()
            for _ in range(r.take("i")):
                part = r.take("i")
                out[(name, part)] = r.take("h")
        return out

    def close(self):
        self.sock.close()


NONE, UNKNOWN_TOPIC_OR_PARTITION, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL = 0, 3, 22, 23


def test_bad_group_requests_get_kafka_errors_and_the_broker_keeps_serving(make_broker, topic):
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 2)
    group = group_name()
    leader = RawClient(broker)
    try:
        joined = leader.join_v1(group, "", "consumer", [("range", subscription([topic]))])
        assert joined["error"] == NONE, joined
        member, generation = joined["member_id"], joined["generation"]
        assert joined["leader"] == member and generation >= 1 and joined["protocol"] == "range"
        assert [m[0] for m in joined["members"]] == [member]

        # Another member asks to join the consumer group as a Connect worker: a protocol type of another kind.
        other = RawClient(broker)
        answer = other.join_v1(group, "", "connect", [("default", b"\x00\x01whatever")])
        assert answer["error"] == INCONSISTENT_GROUP_PROTOCOL, answer
        # The same type but no protocol in common with the group's members: also inconsistent.
        answer = other.join_v1(group, "", "consumer", [("no-such-assignor", subscription([topic]))])
        assert answer["error"] == INCONSISTENT_GROUP_PROTOCOL, answer
        other.close()
        assert_still_serving(broker)

        # The leader's assignment is opaque to the broker: bytes that are no ConsumerProtocolAssignment come back
        # to the member untouched.
        garbage = b"\xff\xfe not an assignment \x00\x00\x7f\xff\xff\xff" + os.urandom(32)
        error, assignment = leader.sync_v1(group, generation, member, [(member, garbage)])
        assert error == NONE
        assert assignment == garbage
        assert leader.heartbeat_v1(group, generation, member) == NONE
        assert_still_serving(broker)

        # Heartbeat and OffsetCommit from the wrong generation.
        assert leader.heartbeat_v1(group, generation + 1, member) == ILLEGAL_GENERATION
        assert leader.heartbeat_v1(group, generation - 1, member) == ILLEGAL_GENERATION
        errors = leader.commit_v2(group, generation + 5, member, {topic: {0: 1}})
        assert errors == {(topic, 0): ILLEGAL_GENERATION}
        assert_still_serving(broker)

        # OffsetCommit for a topic that does not exist and a partition beyond the topic's: per partition errors,
        # while the partition that exists is committed.
        errors = leader.commit_v2(group, generation, member,
                                  {topic: {0: 0, 7: 5}, "no-such-topic-" + uuid.uuid4().hex[:6]: {0: 3}})
        assert errors[(topic, 0)] == NONE
        assert errors[(topic, 7)] == UNKNOWN_TOPIC_OR_PARTITION
        assert [e for (t, _), e in errors.items() if t.startswith("no-such-topic")] == [UNKNOWN_TOPIC_OR_PARTITION]
        assert_still_serving(broker)
        assert leader.heartbeat_v1(group, generation, member) == NONE
    finally:
        leader.close()

    # A member whose subscription metadata is garbage for the consumer protocol, in a group of its own.
    weird = RawClient(broker)
    try:
        answer = weird.join_v1(group_name(), "", "consumer", [("range", b"\x00\x00\x7f\xff\xff\xff\x01")])
        assert answer["error"] == NONE, answer
    finally:
        weird.close()
    assert_still_serving(broker)

    # The group with the opaque assignment survives a restart (it was written to __consumer_offsets).
    assert broker.stop() == 0, broker.log_tail()
    broker.start()
    assert_still_serving(broker)
    with connect(broker) as sock:
        sock.sendall(frame(15, 0, 7, array([string(group)])))  # DescribeGroups v0
        correlation_id, body = read_response(sock)
        r = Reader(body)
        assert r.take("i") == 1
        assert r.take("h") == NONE and r.string() == group
        state, protocol_type, protocol = r.string(), r.string(), r.string()
        assert (state, protocol_type, protocol) == ("Stable", "consumer", "range")
        members = []
        for _ in range(r.take("i")):
            members.append((r.string(), r.string(), r.string(), r.bytes(), r.bytes()))
        # The member whose session has not ended yet is still there, with the bytes the leader assigned.
        assert [(m[0], m[4]) for m in members] == [(member, garbage)]


def test_a_group_restarted_before_its_first_sync_takes_new_members(make_broker, topic):
    # JoinGroup v1 adds the member at once (no MEMBER_ID_REQUIRED round) and the new group is written to
    # __consumer_offsets then; the member's generation is only written with the leader's SyncGroup, which never
    # comes. After the restart the group must be empty, not hold a member without a protocol that refuses
    # everyone else with INCONSISTENT_GROUP_PROTOCOL until its session ends.
    broker = make_broker(GROUP_OVERRIDES)
    create_topic(broker.bootstrap, topic, 1)
    group = group_name()
    first = RawClient(broker)
    try:
        joined = first.join_v1(group, "", "consumer", [("range", subscription([topic]))], session_ms=30000)
        assert joined["error"] == NONE and joined["generation"] == 1
    finally:
        first.close()
    assert broker.stop() == 0, broker.log_tail()
    broker.start()
    second = RawClient(broker)
    try:
        joined = second.join_v1(group, "", "consumer", [("range", subscription([topic]))], session_ms=30000)
        assert joined["error"] == NONE, joined
        assert [m[0] for m in joined["members"]] == [joined["member_id"]]
    finally:
        second.close()


class PipelinedClient:
    """A raw connection that sends without waiting (JoinGroup and SyncGroup may be parked for long) and reads
    the answers on a thread, noting the member ids and generations that JoinGroup answers hand out."""

    def __init__(self, broker, learned):
        self.sock = connect(broker, timeout=None)
        self.correlation_id = 0
        self.sent = {}
        self.learned = learned
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, api_key, version, body):
        self.correlation_id += 1
        self.sent[self.correlation_id] = (api_key, version)
        try:
            self.sock.sendall(frame(api_key, version, self.correlation_id, body))
        except OSError:
            pass

    def _read(self):
        while True:
            try:
                answer = read_response(self.sock)
            except OSError:
                return
            if answer is None:
                return
            api_key, version = self.sent.pop(answer[0], (None, None))
            if api_key != 11:
                continue
            r = Reader(answer[1])
            if version >= 2:
                r.take("i")
            error, generation = r.take("h"), r.take("i")
            r.string()
            leader, member = r.string(), r.string()
            if error == NONE:
                self.learned.append((member, generation, leader))
            elif member:
                self.learned.append((member, -1, ""))  # MEMBER_ID_REQUIRED hands out an id

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.mark.parametrize("seed", [1, 2])
def test_random_group_requests_from_several_connections_never_crash_the_broker(make_broker, topic, seed):
    """JoinGroup (v1, v4, v5 with instance ids), SyncGroup, Heartbeat, LeaveGroup (v1, v3), OffsetCommit and
    DescribeGroups on one group from four connections, with member ids, generations and protocols that are now
    right, now stale, now made up; connections dropped with requests parked; graceful and SIGKILL restarts. The
    broker must answer throughout, reload what it wrote, and stop cleanly."""
    rnd = random.Random(seed)
    broker = make_broker({**GROUP_OVERRIDES, "group.min.session.timeout.ms": "500",
                          "group.initial.rebalance.delay.ms": "50"})
    create_topic(broker.bootstrap, topic, 2)
    group = group_name()
    learned = []
    clients = [PipelinedClient(broker, learned) for _ in range(4)]

    def member_and_generation():
        if learned and rnd.random() < 0.7:
            member, generation, leader = rnd.choice(learned[-4:])
            return (leader if leader and rnd.random() < 0.5 else member), generation
        return rnd.choice(["", "stranger"] + [m for m, _, _ in learned[-8:]]), rnd.choice([-1, 0, 1, 2, 99])

    def protocols():
        offers = [("range", subscription([topic])), ("roundrobin", subscription([topic])), ("range", b"\xff"),
                  ("sticky", b"")]
        chosen = rnd.sample(offers, rnd.randint(0, 3))
        return array([string(name) + bytes_(meta) for name, meta in chosen])

    def timeouts():
        return struct.pack(">ii", rnd.choice([500, 800, 6000]), rnd.choice([500, 1000, 3000]))

    def join_head():
        member = member_and_generation()[0] if rnd.random() < 0.5 else ""
        return string(group) + timeouts() + string(member)

    def protocol_type():
        return string(rnd.choice(["consumer"] * 5 + ["connect"]))

    restarts = 0
    for step in range(300):
        c = rnd.choice(clients)
        op = rnd.choice(["join1", "join1", "join4", "join5", "sync", "sync", "heartbeat", "leave1", "leave3",
                         "commit", "describe", "reconnect", "sleep", "restart"])
        if op == "join1":
            c.send(11, 1, join_head() + protocol_type() + protocols())
        elif op == "join4":
            c.send(11, 4, join_head() + protocol_type() + protocols())
        elif op == "join5":
            instance = rnd.choice(["i1", "i2", None])
            c.send(11, 5, join_head() + (struct.pack(">h", -1) if instance is None else string(instance))
                   + protocol_type() + protocols())
        elif op == "sync":
            member, generation = member_and_generation()
            targets = [member_and_generation()[0] for _ in range(rnd.randint(0, 3))]
            c.send(14, 1, string(group) + struct.pack(">i", generation) + string(member)
                   + array([string(m) + bytes_(os.urandom(rnd.randint(0, 9))) for m in targets]))
        elif op == "heartbeat":
            member, generation = member_and_generation()
            c.send(12, 1, string(group) + struct.pack(">i", generation) + string(member))
        elif op == "leave1":
            c.send(13, 1, string(group) + string(member_and_generation()[0]))
        elif op == "leave3":
            ids = [member_and_generation()[0] for _ in range(rnd.randint(1, 3))]
            c.send(13, 3, string(group) + array([string(m) + (string(rnd.choice(["i1", "i2"])) if rnd.random() < 0.3
                                                             else struct.pack(">h", -1)) for m in ids]))
        elif op == "commit":
            member, generation = member_and_generation()
            c.send(8, 2, string(group) + struct.pack(">i", generation) + string(member) + struct.pack(">q", -1)
                   + array([string(topic) + array([struct.pack(">iq", rnd.choice([0, 1, 5]), rnd.randint(0, 9))
                                                   + struct.pack(">h", -1)])]))
        elif op == "describe":
            c.send(15, 0, array([string(group)]))
        elif op == "reconnect":
            c.close()
            clients[clients.index(c)] = PipelinedClient(broker, learned)
        elif op == "sleep":
            time.sleep(rnd.choice([0.05, 0.2, 0.4]))
        elif op == "restart" and restarts < 3:
            restarts += 1
            if rnd.random() < 0.5:
                broker.kill()
            else:
                assert broker.stop() == 0, broker.log_tail()
            for old in clients:
                old.close()
            broker.start()
            clients = [PipelinedClient(broker, learned) for _ in range(4)]
        time.sleep(0.003)
        assert broker.alive(), f"the broker died at step {step} ({op}):\n{broker.log_tail()}"
    time.sleep(1)
    assert_still_serving(broker)
    for c in clients:
        c.close()
    assert broker.stop() == 0, broker.log_tail()
    assert "generation 1" in broker.log_text(), "no rebalance ever completed: the requests were all refused"
