#!/usr/bin/env python3
"""Producer and consumer throughput of one confluent-kafka (librdkafka) client against Kafka-protocol brokers,
measured in the same run so that results read as ratios:

  samsa   the release `samsa server-start` on a free loopback port, data in a temporary directory (on disk)
  mock    librdkafka's in-memory mock cluster (test.mock.num.brokers=1), inside the client process
  tansu   Tansu (`tansu broker`, memory storage), when --tansu names its binary

Produce: 100-byte records from one producer (linger.ms=5, batch.size=1000000, acks=1) as fast as the Python
loop can call produce(); the broker's CPU time comes from /proc/<pid>/stat (utime + stime) over the run.
Consume (one consumer, default settings, assign from offset 0, no group), timed from its creation to the last
record:
  small   16 topics x 4 partitions x 4 MiB of 16 KiB records: every target holds it (the mock keeps at most
          5 MiB per partition, so it cannot serve a 1 GiB consume from the beginning)
  1 GiB   one topic of 4 partitions, 16 KiB records (samsa, tansu), then the same data through a minimal
          protocol consumer (Fetch v4 on a raw socket) to show what the broker serves when the client is cheap

  scripts/perf/kafka_perf.py --samsa .build/release/samsa [--tansu /path/to/tansu] [--repeat 3]
"""
import argparse
import datetime
import json
import logging
import platform
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of a process and all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Target:
    name = "?"
    pid = None  # the broker process, when it is one
    extra = {}  # client settings this target needs

    def bootstrap(self):
        raise NotImplementedError

    def stop(self):
        pass


class Samsa(Target):
    name = "samsa"

    def __init__(self, binary, data_dir, extra=()):
        self.port = free_port()
        self.dir = data_dir
        self.log = open(os.path.join(data_dir, "broker.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "server-start", "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
             "--override", f"log.dirs={os.path.join(data_dir, 'data')}"] + [a for e in extra for a in ("--override", e)],
            stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        wait_for_port(self.port)

    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


class Tansu(Target):
    name = "tansu"

    def __init__(self, binary, data_dir):
        self.port = free_port()
        self.log = open(os.path.join(data_dir, "tansu.log"), "w")
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"], stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        wait_for_port(self.port)

    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Mock(Target):
    """librdkafka's mock cluster lives inside the client that enables it: a holder producer keeps it up, and its
    log line `Mock cluster enabled: ... replaced with <servers>` says where it listens."""
    name = "mock"

    def __init__(self):
        self.servers = None
        found = threading.Event()
        pattern = re.compile(r"replaced with (\S+)")

        class Catch(logging.Handler):
            def emit(handler, record):
                match = pattern.search(record.getMessage())
                if match and not found.is_set():
                    self.servers = match.group(1).rstrip(",")
                    found.set()
        logger = logging.getLogger("mock")
        logger.addHandler(Catch())
        logger.setLevel(logging.DEBUG)
        self.holder = Producer({"bootstrap.servers": "unused:9092", "test.mock.num.brokers": 1}, logger=logger)
        deadline = time.time() + 10
        while not found.is_set() and time.time() < deadline:
            self.holder.poll(0.05)
        if not self.servers:
            raise RuntimeError("librdkafka did not log the mock cluster's address")

    def bootstrap(self):
        return self.servers


def create_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=5)[topic].result(10)
    except Exception as e:  # librdkafka's mock cluster does not answer CreateTopics: it auto-creates on use
        print(f"  (CreateTopics: {e!r}; relying on auto-creation)", flush=True)
        return
    # Wait until the broker knows it.
    deadline = time.time() + 10
    while topic not in admin.list_topics(timeout=10).topics and time.time() < deadline:
        time.sleep(0.05)


def produce(target, topic, records, size, partitions=1):
    """Returns (seconds, records/s, MB/s, broker CPU cores, client CPU cores)."""
    payload = os.urandom(size)
    p = Producer({"bootstrap.servers": target.bootstrap(), "linger.ms": 5, "batch.size": 1_000_000, "acks": 1})
    failures = []
    cb = lambda err, msg: err and failures.append(err)
    # Warm up the connection and metadata.
    p.produce(topic, payload, partition=0, on_delivery=cb)
    p.flush(30)
    broker0 = cpu_seconds(target.pid) if target.pid else None
    client0 = cpu_seconds(os.getpid())
    start = time.monotonic()
    produced = 0
    part = 0
    while produced < records:
        try:
            p.produce(topic, payload, partition=part, on_delivery=cb)
            produced += 1
            if partitions > 1:
                part = (part + 1) % partitions
        except BufferError:
            p.poll(0.0005)
    left = p.flush(120)
    elapsed = time.monotonic() - start
    broker_cpu = (cpu_seconds(target.pid) - broker0) / elapsed if target.pid else None
    client_cpu = (cpu_seconds(os.getpid()) - client0) / elapsed
    assert left == 0 and not failures, (left, failures[:3])
    return elapsed, records / elapsed, records * size / elapsed / 1e6, broker_cpu, client_cpu


def kcat_lines(records, size):
    """A file of `records` newline-separated random printable payloads of `size` bytes (kcat -P -l reads it)."""
    import random
    rng = random.Random(1)
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    lines = [bytes(rng.choice(alphabet) for _ in range(size)) + b"\n" for _ in range(256)]
    f = tempfile.NamedTemporaryFile(prefix="kcat-lines-", delete=False)
    block = b"".join(lines)
    for _ in range(records // 256):
        f.write(block)
    f.write(b"".join(lines[: records % 256]))
    f.close()
    return f.name


def produce_kcat(target, topic, path, records, size):
    """The same producer settings through kcat (librdkafka in C, no Python per record), so that the broker, not
    the client loop, sets the pace. Timed from kcat's start to its exit (after every delivery report); returns
    (seconds, records/s, MB/s, broker CPU cores, kcat CPU cores)."""
    kcat = shutil.which("kcat")
    command = [kcat, "-P", "-b", target.bootstrap(), "-t", topic, "-p", "0", "-X", "linger.ms=5",
               "-X", "batch.size=1000000", "-X", "acks=1", "-l", path]
    subprocess.run(command[:-2] + ["/dev/null"], check=True)  # warm up: metadata, connection
    broker0 = cpu_seconds(target.pid) if target.pid else None
    start = time.monotonic()
    usage0 = os.times()
    subprocess.run(command, check=True)
    elapsed = time.monotonic() - start
    usage1 = os.times()
    client_cpu = ((usage1.children_user - usage0.children_user) + (usage1.children_system - usage0.children_system)) / elapsed
    broker_cpu = (cpu_seconds(target.pid) - broker0) / elapsed if target.pid else None
    return elapsed, records / elapsed, records * size / elapsed / 1e6, broker_cpu, client_cpu


def fill(target, topic, partitions, total_bytes, size):
    """Writes total_bytes of size-byte records, round-robin over the partitions (not timed)."""
    payload = os.urandom(size)
    p = Producer({"bootstrap.servers": target.bootstrap(), "linger.ms": 5, "batch.size": 1_000_000, "acks": 1,
                  "queue.buffering.max.kbytes": 1 << 20})
    n = total_bytes // size
    sent = 0
    while sent < n:
        try:
            p.produce(topic, payload, partition=sent % partitions)
            sent += 1
        except BufferError:
            p.poll(0.001)
    assert p.flush(300) == 0
    return n


def consume(target, topics, partitions, count):
    """Returns (seconds, MB/s, broker CPU cores) for one consumer (default settings, assign from offset 0, no
    group) to read `count` records of `topics` x `partitions`."""
    broker0 = cpu_seconds(target.pid) if target.pid else None
    start = time.monotonic()
    c = Consumer({"bootstrap.servers": target.bootstrap(), "group.id": "perf-unused", "enable.auto.commit": False})
    c.assign([TopicPartition(t, p, 0) for t in topics for p in range(partitions)])
    got = 0
    nbytes = 0
    while got < count:
        # A short timeout: consume() waits for its whole batch count, which the last records never fill.
        for m in c.consume(num_messages=1000, timeout=0.01):
            if m.error():
                raise RuntimeError(m.error())
            got += 1
            nbytes += len(m.value())
    elapsed = time.monotonic() - start
    broker_cpu = (cpu_seconds(target.pid) - broker0) / elapsed if target.pid else None
    c.close()
    return elapsed, nbytes / elapsed / 1e6, broker_cpu


def raw_consume(target, topic, partitions, total_bytes):
    """A minimal protocol consumer (Fetch v4 over one socket, 1 MiB per partition, no record parsing beyond batch
    headers): what the broker serves when the client costs almost nothing. Returns MB/s of whole batches."""
    host, port = target.bootstrap().rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(64 << 20)
    view = memoryview(buf)

    def recv_frame():
        def fill_to(n):
            got = 0
            while got < n:
                r = sock.recv_into(view[got:n])
                if not r:
                    raise ConnectionError("closed")
                got += r
        fill_to(4)
        size = struct.unpack_from(">i", buf, 0)[0]
        fill_to(size)
        return size

    name = topic.encode()
    offsets = [0] * partitions
    start = time.monotonic()
    useful = 0
    correlation = 0
    while useful < total_bytes:
        correlation += 1
        body = struct.pack(">iiiib", -1, 500, 1, 64 << 20, 0) + struct.pack(">ih", 1, len(name)) + name
        body += struct.pack(">i", partitions) + b"".join(struct.pack(">iqi", p, offsets[p], 1 << 20) for p in range(partitions))
        header = struct.pack(">hhih", 1, 4, correlation, 3) + b"raw"
        sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        size = recv_frame()
        at = 4 + 4 + 4  # correlation id, throttle, topic count
        at += 2 + struct.unpack_from(">h", buf, at)[0]
        count = struct.unpack_from(">i", buf, at)[0]
        at += 4
        for _ in range(count):
            p, error = struct.unpack_from(">ih", buf, at)
            at += 4 + 2 + 8 + 8
            aborted = struct.unpack_from(">i", buf, at)[0]
            at += 4 + 16 * max(aborted, 0)
            length = struct.unpack_from(">i", buf, at)[0]
            at += 4
            end = at + length
            while at + 12 <= end:
                base, batch_length = struct.unpack_from(">qi", buf, at)
                if at + 12 + batch_length > end:
                    break
                offsets[p] = base + struct.unpack_from(">i", buf, at + 23)[0] + 1
                useful += 12 + batch_length
                at += 12 + batch_length
            at = end
        assert at == size, (at, size)
    elapsed = time.monotonic() - start
    sock.close()
    return elapsed, useful / elapsed / 1e6


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samsa", default=".build/release/samsa", help="the samsa binary")
    parser.add_argument("--tansu", help="the tansu binary (optional peer)")
    parser.add_argument("--no-mock", action="store_true")
    parser.add_argument("--records", type=int, default=3_000_000, help="records to produce")
    parser.add_argument("--record-size", type=int, default=100)
    parser.add_argument("--consume-bytes", type=int, default=1 << 30, help="the large consume (samsa, tansu)")
    parser.add_argument("--consume-record-size", type=int, default=16 * 1024)
    parser.add_argument("--small-topics", type=int, default=16,
                        help="topics of 4 partitions x 4 MiB for the consume every target can hold (the mock keeps "
                             "at most 5 MiB per partition)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each target once per round, interleaved")
    parser.add_argument("--data-dir", help="where samsa keeps its data (default: a temporary directory)")
    parser.add_argument("--kcat-records", type=int, default=5_000_000,
                        help="records for the kcat producer (0: skip it; it also needs kcat on PATH)")
    parser.add_argument("--produce-only", action="store_true", help="skip the consume workloads")
    parser.add_argument("--json", help="also write every round's figures, the medians and the ratios to this file")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()

    results = {}
    kcat_file = None
    if args.kcat_records and shutil.which("kcat"):
        kcat_file = kcat_lines(args.kcat_records, args.record_size)

    def record(name, key, value):
        results.setdefault(name, {}).setdefault(key, []).append(value)

    for round_ in range(args.repeat):
        work = args.data_dir or tempfile.mkdtemp(prefix="samsa-perf-")
        os.makedirs(work, exist_ok=True)
        targets = [lambda: Samsa(os.path.abspath(args.samsa), work)]
        if not args.no_mock:
            targets.append(Mock)
        if args.tansu:
            tansu_dir = tempfile.mkdtemp(prefix="tansu-perf-")
            targets.append(lambda: Tansu(args.tansu, tansu_dir))
        if round_ % 2 == 1:
            targets.reverse()  # alternate who goes first: a slow start or a warm cache favours no one
        for make in targets:
            target = make()
            name = target.name
            try:
                create_topic(target.bootstrap(), "perf-produce", 1)
                p = produce(target, "perf-produce", args.records, args.record_size)
                record(name, "produce rec/s", p[1])
                record(name, "produce MB/s", p[2])
                if p[3] is not None:
                    record(name, "broker CPU (produce)", p[3])
                record(name, "client CPU (produce)", p[4])
                print(f"[{round_}] {name:6} produce {args.records} x {args.record_size} B: {p[0]:.2f} s, {p[1]:,.0f} rec/s, "
                      f"{p[2]:.1f} MB/s, broker CPU {fmt(p[3], '.2f')} cores, client CPU {p[4]:.2f} cores", flush=True)

                if kcat_file:
                    create_topic(target.bootstrap(), "perf-produce-kcat", 1)
                    p = produce_kcat(target, "perf-produce-kcat", kcat_file, args.kcat_records, args.record_size)
                    record(name, "kcat produce rec/s", p[1])
                    if p[3] is not None:
                        record(name, "broker CPU (kcat)", p[3])
                    record(name, "kcat CPU", p[4])
                    print(f"[{round_}] {name:6} kcat produce {args.kcat_records} x {args.record_size} B: {p[0]:.2f} s, "
                          f"{p[1]:,.0f} rec/s, {p[2]:.1f} MB/s, broker CPU {fmt(p[3], '.2f')} cores, kcat CPU "
                          f"{p[4]:.2f} cores", flush=True)
                if args.produce_only:
                    continue

                small = [f"perf-small-{i}" for i in range(args.small_topics)]
                n = 0
                for t in small:
                    create_topic(target.bootstrap(), t, 4)
                    n += fill(target, t, 4, 4 * 4 << 20, args.consume_record_size)
                c = consume(target, small, 4, n)
                record(name, "consume small MB/s", c[1])
                print(f"[{round_}] {name:6} consume {len(small)} topics x 4 partitions x 4 MiB from the beginning: "
                      f"{c[0]:.2f} s, {c[1]:,.0f} MB/s, broker CPU {fmt(c[2], '.2f')} cores", flush=True)

                if name != "mock":
                    create_topic(target.bootstrap(), "perf-large", 4)
                    n = fill(target, "perf-large", 4, args.consume_bytes, args.consume_record_size)
                    c = consume(target, ["perf-large"], 4, n)
                    record(name, "consume 1 GiB MB/s", c[1])
                    print(f"[{round_}] {name:6} consume {n * args.consume_record_size / 2**30:.2f} GiB (4 partitions) "
                          f"from the beginning: {c[0]:.2f} s, {c[1]:,.0f} MB/s, broker CPU {fmt(c[2], '.2f')} cores",
                          flush=True)
                    r = raw_consume(target, "perf-large", 4, n * args.consume_record_size)
                    record(name, "raw consume 1 GiB MB/s", r[1])
                    print(f"[{round_}] {name:6} raw protocol consumer, same data: {r[0]:.2f} s, {r[1]:,.0f} MB/s",
                          flush=True)
            finally:
                target.stop()
        if not args.data_dir:
            shutil.rmtree(work, ignore_errors=True)
        if args.tansu:
            shutil.rmtree(tansu_dir, ignore_errors=True)

    print()
    if kcat_file:
        os.unlink(kcat_file)
    keys = ["produce rec/s", "produce MB/s", "broker CPU (produce)", "client CPU (produce)", "kcat produce rec/s",
            "broker CPU (kcat)", "kcat CPU", "consume small MB/s",
            "consume 1 GiB MB/s", "raw consume 1 GiB MB/s"]
    print(f"{'median of ' + str(args.repeat):24}" + "".join(f"{n:>12}" for n in results))
    for key in keys:
        row = f"{key:24}"
        for name in results:
            values = sorted(results[name].get(key, []))
            row += f"{values[len(values) // 2]:>12,.2f}" if values else f"{'-':>12}"
        print(row)
    ratios = {}
    if "samsa" in results:
        for other in [n for n in results if n != "samsa"]:
            for key in ["produce rec/s", "kcat produce rec/s", "consume small MB/s", "consume 1 GiB MB/s", "raw consume 1 GiB MB/s"]:
                a = sorted(results["samsa"].get(key, []))
                b = sorted(results[other].get(key, []))
                if a and b:
                    ratio = a[len(a) // 2] / b[len(b) // 2]
                    ratios.setdefault(other, {})[key] = {
                        "median ratio": ratio,
                        "per round": [x / y for x, y in zip(results["samsa"][key], results[other][key])]}
                    print(f"samsa / {other} {key}: {ratio:.2f}")
    if args.json:
        import confluent_kafka
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            mem_mb = int(f.readline().split()[1]) // 1024
        out = {
            "tool": "scripts/perf/kafka_perf.py",
            "command": " ".join(sys.argv),
            "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seconds": round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1),
            "host": {"cpu": cpu, "cores": os.cpu_count(), "memoryMB": mem_mb, "kernel": platform.release(),
                     "loadAverageStart": load_start[0], "loadAverageEnd": os.getloadavg()[0]},
            "client": {"confluent-kafka": confluent_kafka.__version__, "librdkafka": confluent_kafka.libversion()[0]},
            "options": {k: v for k, v in vars(args).items() if k not in ("json",)},
            "method": "each round starts every target in turn (samsa, mock, tansu) and runs the same workloads "
                      "against it; medians over rounds; ratios are samsa / other (median over median, and per round)",
            "rounds": results,
            "medians": {name: {key: sorted(v)[len(v) // 2] for key, v in keys.items()}
                        for name, keys in results.items()},
            "ratios": ratios,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
