#!/usr/bin/env python3
"""Resident memory of the samsa broker process while one confluent-kafka producer writes GIB GiB of 16 KiB records
into 4 partitions and one consumer then reads them all back from offset 0. Samples VmRSS (and VmHWM, the peak)
from /proc/<pid>/status after every 256 MiB written and at the end of the consume. The page cache holding the
segments is the kernel's and is not in either figure.

  /tmp/papers-venv/bin/python papers/broker_rss.py --samsa /tmp/papers/samsa --gib 4 \\
      --json papers/data/broker-rss-DATE.json
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "perf"))
import kafka_perf  # noqa: E402
from confluent_kafka import Producer  # noqa: E402


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024  # MiB
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samsa", required=True)
    parser.add_argument("--gib", type=int, default=4)
    parser.add_argument("--record-size", type=int, default=16 * 1024)
    parser.add_argument("--json")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    work = tempfile.mkdtemp(prefix="samsa-rss-")
    broker = kafka_perf.Samsa(os.path.abspath(args.samsa), work)
    samples = []
    try:
        time.sleep(0.5)
        samples.append({"phase": "idle", "MiB written": 0, **memory(broker.pid)})
        kafka_perf.create_topic(broker.bootstrap(), "rss", 4)
        payload = os.urandom(args.record_size)
        p = Producer({"bootstrap.servers": broker.bootstrap(), "linger.ms": 5, "batch.size": 1_000_000, "acks": 1,
                      "queue.buffering.max.kbytes": 1 << 20})
        step = (256 << 20) // args.record_size
        total = (args.gib << 30) // args.record_size
        for i in range(total):
            while True:
                try:
                    p.produce("rss", payload, partition=i % 4)
                    break
                except BufferError:
                    p.poll(0.001)
            if (i + 1) % step == 0:
                assert p.flush(120) == 0
                samples.append({"phase": "produce", "MiB written": (i + 1) * args.record_size >> 20,
                                **memory(broker.pid)})
                print(samples[-1], flush=True)
        t0 = time.monotonic()
        c = kafka_perf.consume(broker, ["rss"], 4, total)
        samples.append({"phase": "after consuming it all from offset 0", "MiB written": total * args.record_size >> 20,
                        "consume MB/s": c[1], **memory(broker.pid)})
        print(samples[-1], flush=True)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = {"tool": "papers/broker_rss.py", "command": " ".join(sys.argv),
           "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "loadAverage": os.getloadavg()[0],
           "units": "MiB (VmRSS: resident now; VmHWM: peak resident so far)", "samples": samples}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
