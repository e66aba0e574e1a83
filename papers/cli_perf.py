#!/usr/bin/env python3
"""samsa's CLI perf tools (`samsa producer-perf-test`, `samsa consumer-perf-test`: Kafka's kafka-*-perf-test.sh
with the same summary lines) against three brokers in the same run: samsa itself, librdkafka's mock cluster
(test.mock.num.brokers=1, held up by this process) and Tansu. The client is the same samsa binary every time, so
the per-round ratios say how the brokers compare under this client; its absolute figures say what the tool reaches.

  produce  --num-records N --record-size 100 --throughput -1, acks=1 linger.ms=5 batch.size=1048576, a topic of
           4 partitions (the mock's auto-created topics have 4)
  consume  4 partitions x 36,000 records of 100 bytes (~4 MiB each: the mock keeps at most 5 MiB per partition),
           written round-robin by a confluent-kafka producer (not timed), read from the beginning by
           consumer-perf-test --messages 144000; then, for samsa and Tansu only, 4 x LARGE records the same way

  /tmp/papers-venv/bin/python papers/cli_perf.py --samsa /tmp/papers/samsa --tansu .../tansu --repeat 3 \\
      --json papers/data/cli-perf-DATE.json
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "perf"))
import kafka_perf  # noqa: E402  (Samsa, Mock, Tansu targets; create_topic)
from confluent_kafka import Producer  # noqa: E402

PRODUCE = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                     r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th", re.M)


def producer_perf(samsa, target, topic, records, size):
    out = subprocess.run(
        [samsa, "producer-perf-test", "--topic", topic, "--num-records", str(records), "--record-size", str(size),
         "--throughput", "-1", "--reporting-interval", "600000", "--producer-props",
         f"bootstrap.servers={target.bootstrap()}", "acks=1", "linger.ms=5", "batch.size=1048576"],
        capture_output=True, text=True, timeout=300)
    m = None
    for m in PRODUCE.finditer(out.stdout):
        pass
    if out.returncode != 0 or not m:
        raise RuntimeError(f"producer-perf-test failed: {out.returncode}\n{out.stdout}\n{out.stderr}")
    return {"records/s": float(m.group(2)), "MB/s": float(m.group(3)), "avg latency ms": float(m.group(4)),
            "max latency ms": float(m.group(5)), "p50 ms": int(m.group(6)), "p99 ms": int(m.group(8)),
            "summary": m.group(0)}


def consumer_perf(samsa, target, topic, messages):
    out = subprocess.run(
        [samsa, "consumer-perf-test", "--bootstrap-server", target.bootstrap(), "--topic", topic,
         "--messages", str(messages), "--timeout", "20000"], capture_output=True, text=True, timeout=300)
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    if out.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"consumer-perf-test failed: {out.returncode}\n{out.stdout}\n{out.stderr}")
    fields = [f.strip() for f in lines[-1].split(",")]
    header = [f.strip() for f in lines[-2].split(",")]
    row = dict(zip(header, fields))
    got = int(row["data.consumed.in.nMsg"])
    if got < messages:
        raise RuntimeError(f"consumer-perf-test read {got} of {messages}:\n{out.stdout}\n{out.stderr}")
    return {"MB/s": float(row["MB.sec"]), "records/s": float(row["nMsg.sec"]), "records": got,
            "summary": lines[-1]}


def create_topic(target, topic, partitions):
    """The mock cluster does not answer CreateTopics (kafka_perf.create_topic waits out its timeout): it creates a
    topic on first use, with 4 partitions; every topic here has 4 partitions so that the three brokers match."""
    if target.name == "mock":
        return
    kafka_perf.create_topic(target.bootstrap(), topic, partitions)


def fill(target, topic, partitions, per_partition, size):
    payload = os.urandom(size)
    p = Producer({"bootstrap.servers": target.bootstrap(), "linger.ms": 5, "batch.size": 1_000_000, "acks": 1})
    for i in range(partitions * per_partition):
        while True:
            try:
                p.produce(topic, payload, partition=i % partitions)
                break
            except BufferError:
                p.poll(0.001)
    assert p.flush(120) == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samsa", required=True)
    parser.add_argument("--tansu")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--record-size", type=int, default=100)
    parser.add_argument("--per-partition", type=int, default=36_000)
    parser.add_argument("--large-per-partition", type=int, default=500_000, help="samsa and Tansu only")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    samsa = os.path.abspath(args.samsa)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()
    results = {}
    summaries = []
    errors = []
    for round_ in range(args.repeat):
        work = tempfile.mkdtemp(prefix="samsa-cli-perf-")
        tansu_dir = tempfile.mkdtemp(prefix="tansu-cli-perf-")
        makers = [lambda: kafka_perf.Samsa(samsa, work), kafka_perf.Mock]
        if args.tansu:
            makers.append(lambda: kafka_perf.Tansu(args.tansu, tansu_dir))
        for make in makers:
            target = make()
            try:
                results.setdefault(target.name, {})
                create_topic(target, "cli-produce", 4)
                p = producer_perf(samsa, target, "cli-produce", args.records, args.record_size)
                create_topic(target, "cli-consume", 4)
                fill(target, "cli-consume", 4, args.per_partition, args.record_size)
                c = consumer_perf(samsa, target, "cli-consume", 4 * args.per_partition)
                big = None
                if target.name != "mock" and args.large_per_partition:
                    create_topic(target, "cli-consume-large", 4)
                    fill(target, "cli-consume-large", 4, args.large_per_partition, args.record_size)
                    big = consumer_perf(samsa, target, "cli-consume-large", 4 * args.large_per_partition)
            except RuntimeError as e:
                # Kept, not hidden: e.g. samsa's client against librdkafka's mock cluster.
                errors.append({"round": round_, "target": target.name, "error": str(e).strip()})
                print(f"[{round_}] {target.name:6} FAILED: {str(e).strip()}", flush=True)
                continue
            finally:
                target.stop()
            r = results.setdefault(target.name, {})
            for k, v in p.items():
                if k != "summary":
                    r.setdefault("produce " + k, []).append(v)
            for k, v in c.items():
                if k not in ("summary", "records"):
                    r.setdefault("consume " + k, []).append(v)
            if big:
                for k, v in big.items():
                    if k not in ("summary", "records"):
                        r.setdefault("consume large " + k, []).append(v)
            summaries.append({"round": round_, "target": target.name, "producer-perf-test": p["summary"],
                              "consumer-perf-test": c["summary"],
                              "consumer-perf-test large": big["summary"] if big else None})
            print(f"[{round_}] {target.name:6} producer-perf-test: {p['summary']}", flush=True)
            print(f"[{round_}] {target.name:6} consumer-perf-test: {c['summary']}", flush=True)
            if big:
                print(f"[{round_}] {target.name:6} consumer-perf-test (large): {big['summary']}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tansu_dir, ignore_errors=True)

    def median(v):
        return sorted(v)[len(v) // 2]
    results = {n: keys for n, keys in results.items() if keys}
    medians = {n: {k: median(v) for k, v in keys.items()} for n, keys in results.items()}
    ratios = {}
    for other in [n for n in results if n != "samsa"]:
        for key in ["produce records/s", "consume MB/s", "consume records/s", "consume large records/s"]:
            if key not in results["samsa"] or key not in results[other]:
                continue
            ratios.setdefault(other, {})[key] = {
                "median ratio": medians["samsa"][key] / medians[other][key],
                "per round": [a / b for a, b in zip(results["samsa"][key], results[other][key])]}
    print(json.dumps({"medians": medians, "ratios": ratios}, indent=1))
    if args.json:
        out = {"tool": "papers/cli_perf.py", "command": " ".join(sys.argv),
               "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "host": {"cores": os.cpu_count(), "loadAverageStart": load_start[0],
                        "loadAverageEnd": os.getloadavg()[0]},
               "options": vars(args), "rounds": results, "summaries": summaries, "errors": errors,
               "medians": medians, "ratios": ratios}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
