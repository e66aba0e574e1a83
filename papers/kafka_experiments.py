#!/usr/bin/env python3
"""Kafka's own published experiments ([K2011] section 5, [K2014]) re-run on Samsa, scaled down to fit a shared
2-vCPU VM. Starts its own samsa broker (fresh log dir, one partition per topic, loopback) and drives it with
samsa's CLI perf tools (Kafka's kafka-*-perf-test.sh) and, for end-to-end latency, confluent-kafka.

  k2011-producer   200-byte records, "batch size 1": batch.size=1 (every batch holds one record), linger.ms=0,
                   one request in flight; acks=1, and acks=0 (Kafka 0.7 did not wait for acks). "batch size 50":
                   batch.size = 50 records' worth of a v2 batch, linger.ms=100.
  k2011-consumer   consumer-perf-test of the batch-50 topic from offset 0.
  k2014-producer   100-byte records, Kafka's producer defaults (batch.size=16384, linger.ms=0), acks=1.
  k2014-consumer   consumer-perf-test of that topic from offset 0.
  k2014-e2e        EndToEndLatency's loop: produce one record, wait for the ack, poll a consumer until it has it.
  sizes / codecs   producer-perf-test at 10/100/1000/10000 bytes and with none/gzip/snappy/lz4/zstd at 100 bytes
                   (acks=1 linger.ms=5 batch.size=1048576 as section 8), --repeat rounds, order reversed on odd rounds.

  /work/main/.venv/bin/python papers/kafka_experiments.py --samsa /tmp/papers2/samsa \\
      --json papers/data/kafka-experiments-DATE.json
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

PRODUCE = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                     r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th", re.M)


def load():
    return os.getloadavg()[0]


class Broker:
    def __init__(self, samsa):
        self.dir = tempfile.mkdtemp(prefix="samsa-kexp-")
        self.proc = subprocess.Popen(
            [samsa, "server-start", "--override", "listeners=PLAINTEXT://127.0.0.1:0",
             "--override", f"log.dirs={self.dir}/data"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addr = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on PLAINTEXT://([\d.]+:\d+)", line)
            if m:
                self.addr = m.group(1)
                break
        if not self.addr:
            self.stop()
            raise RuntimeError("broker did not start")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def create(samsa, bootstrap, topic):
    subprocess.run([samsa, "topics", "--create", "--topic", topic, "--partitions", "1", "--bootstrap-server",
                    bootstrap], check=True, capture_output=True, timeout=60)


def produce(samsa, bootstrap, topic, records, size, props):
    cmd = [samsa, "producer-perf-test", "--topic", topic, "--num-records", str(records), "--record-size", str(size),
           "--throughput", "-1", "--reporting-interval", "600000", "--producer-props",
           f"bootstrap.servers={bootstrap}"] + [f"{k}={v}" for k, v in props.items()]
    l0 = load()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    m = None
    for m in PRODUCE.finditer(out.stdout):
        pass
    if out.returncode != 0 or not m:
        raise RuntimeError(f"producer-perf-test failed: {out.returncode}\n{out.stdout}\n{out.stderr}")
    r = {"records": records, "record size": size, "props": props, "records/s": float(m.group(2)),
         "MB/s": float(m.group(3)), "avg latency ms": float(m.group(4)), "p50 ms": int(m.group(6)),
         "p99 ms": int(m.group(8)), "load1 before": l0, "load1 after": load(), "summary": m.group(0),
         "command": " ".join(cmd[1:]).replace(bootstrap, "HOST")}
    print(f"  produce {topic}: {r['records/s']:.0f} rec/s {r['MB/s']} MB/s (load {l0:.2f})", flush=True)
    return r


def consume(samsa, bootstrap, topic, messages):
    cmd = [samsa, "consumer-perf-test", "--bootstrap-server", bootstrap, "--topic", topic, "--messages",
           str(messages), "--timeout", "20000"]
    l0 = load()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    if out.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"consumer-perf-test failed: {out.returncode}\n{out.stdout}\n{out.stderr}")
    row = dict(zip([f.strip() for f in lines[-2].split(",")], [f.strip() for f in lines[-1].split(",")]))
    r = {"records": int(row["data.consumed.in.nMsg"]), "records/s": float(row["nMsg.sec"]),
         "MB/s": float(row["MB.sec"]), "load1 before": l0, "load1 after": load(), "summary": lines[-1],
         "command": " ".join(cmd[1:]).replace(bootstrap, "HOST")}
    print(f"  consume {topic}: {r['records/s']:.0f} rec/s {r['MB/s']} MB/s (load {l0:.2f})", flush=True)
    return r


def e2e(bootstrap, topic, n, size):
    """Kafka's EndToEndLatency: send one record synchronously (acks=1), then poll until the consumer has it."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0})
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e", "enable.auto.commit": False,
                  "auto.offset.reset": "latest"})
    c.assign([TopicPartition(topic, 0, -1)])  # OFFSET_END
    payload = b"x" * size
    # warm up: make sure the consumer is positioned and the producer connected
    p.produce(topic, b"warm", partition=0)
    p.flush(10)
    t_end = time.time() + 10
    while time.time() < t_end:
        m = c.poll(0.5)
        if m is not None and not m.error():
            break
    lat = []
    l0 = load()
    for i in range(n):
        t0 = time.perf_counter()
        p.produce(topic, payload, partition=0)
        p.flush(10)
        while True:
            m = c.poll(1.0)
            if m is not None and not m.error():
                break
        lat.append((time.perf_counter() - t0) * 1000)
    c.close()
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    r = {"iterations": n, "record size": size, "median ms": statistics.median(lat), "p99 ms": q(0.99),
         "p99.9 ms": q(0.999), "max ms": lat[-1], "mean ms": statistics.mean(lat), "load1 before": l0,
         "load1 after": load(),
         "client": "confluent-kafka producer (acks=1, linger.ms=0, flush per record) + consumer (defaults, assigned"
                   " at the end offset)"}
    print(f"  e2e: median {r['median ms']:.3f} p99 {r['p99 ms']:.3f} p99.9 {r['p99.9 ms']:.3f} ms", flush=True)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samsa", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--k2011-records", type=int, default=1_000_000)
    ap.add_argument("--k2011-batch1-records", type=int, default=200_000)
    ap.add_argument("--k2014-records", type=int, default=1_000_000)
    ap.add_argument("--e2e", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", default="k2011,k2014,e2e,sizes,codecs")
    a = ap.parse_args()
    only = set(a.only.split(","))
    s = a.samsa
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "host": {"nproc": os.cpu_count(), "uname": " ".join(os.uname())}, "load1 start": load()}
    try:
        res["samsa version"] = subprocess.run([s, "--version"], capture_output=True, text=True).stdout.strip()
    except Exception:
        pass
    b = Broker(s)
    h = b.addr
    try:
        if "k2011" in only:
            k = res["k2011"] = {}
            for acks in ("1", "0"):
                t = f"k2011-b1-acks{acks}"
                create(s, h, t)
                k[f"producer batch 1 acks={acks}"] = produce(
                    s, h, t, a.k2011_batch1_records, 200,
                    {"acks": acks, "batch.size": 1, "linger.ms": 0, "max.in.flight.requests.per.connection": 1})
            create(s, h, "k2011-b50")
            # a v2 batch: 61-byte header + per record ~8 bytes framing + 200-byte value
            k["producer batch 50"] = produce(s, h, "k2011-b50", a.k2011_records, 200,
                                             {"acks": "1", "batch.size": 61 + 50 * 208, "linger.ms": 100})
            k["consumer"] = consume(s, h, "k2011-b50", a.k2011_records)
        if "k2014" in only:
            k = res["k2014"] = {}
            create(s, h, "k2014")
            k["producer"] = produce(s, h, "k2014", a.k2014_records, 100,
                                    {"acks": "1", "batch.size": 16384, "linger.ms": 0})
            k["consumer"] = consume(s, h, "k2014", a.k2014_records)
        if "e2e" in only:
            create(s, h, "k2014-e2e")
            res.setdefault("k2014", {})["end-to-end"] = e2e(h, "k2014-e2e", a.e2e, 100)
        base = {"acks": "1", "linger.ms": 5, "batch.size": 1048576}
        sizes = {10: 1_000_000, 100: 1_000_000, 1000: 200_000, 10000: 20_000}
        codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
        if "sizes" in only or "codecs" in only:
            res["sizes"] = {str(z): [] for z in sizes} if "sizes" in only else None
            res["codecs"] = {c: [] for c in codecs} if "codecs" in only else None
            for rnd in range(a.repeat):
                jobs = ([("size", z) for z in sizes] if "sizes" in only else []) + \
                       ([("codec", c) for c in codecs] if "codecs" in only else [])
                if rnd % 2:
                    jobs.reverse()
                for kind, v in jobs:
                    t = f"{kind}-{v}-r{rnd}"
                    create(s, h, t)
                    if kind == "size":
                        res["sizes"][str(v)].append(produce(s, h, t, sizes[v], v, base))
                    else:
                        res["codecs"][v].append(produce(s, h, t, 500_000, 100, dict(base, **{"compression.type": v})))
    finally:
        b.stop()
        res["load1 end"] = load()
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
        print("wrote", a.json)


if __name__ == "__main__":
    main()
