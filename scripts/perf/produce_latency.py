#!/usr/bin/env python3
"""Produce round-trip latency, one request in flight, over a raw socket: what an append costs the broker when it
runs on the event loop (page cache) versus when it flushes on every append (fsync, on the blocking pool). The
same pre-built batch (kafka-python's builder) is sent again and again; the broker assigns the offsets.

  scripts/perf/produce_latency.py --bootstrap 127.0.0.1:9092 [--records-per-batch 9000] [--record-size 100]
"""
import argparse
import os
import socket
import statistics
import struct
import time

from kafka.record.default_records import DefaultRecordBatchBuilder


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def produce_frame(correlation_id, topic, batch, acks=1):
    body = struct.pack(">hhi", -1, acks, 30_000)  # null transactional id, acks, timeout
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1) + struct.pack(">ii", 0, len(batch)) + batch
    header = struct.pack(">hhi", 0, 7, correlation_id) + string("latency")
    return struct.pack(">i", len(header) + len(body)) + header + body


def recv_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default="latency")
    parser.add_argument("--records-per-batch", type=int, default=9_000)
    parser.add_argument("--record-size", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 64 << 20)
    value = os.urandom(args.record_size)
    now = int(time.time() * 1000)
    for i in range(args.records_per_batch):
        builder.append(i, now, None, value, [])
    batch = bytes(builder.build())

    host, port = args.bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # The first produce creates the topic? No: Produce never creates. Ask Metadata (v1) to auto-create it.
    meta = struct.pack(">i", 1) + string(args.topic)
    header = struct.pack(">hhi", 3, 1, 0) + string("latency")
    sock.sendall(struct.pack(">i", len(header) + len(meta)) + header + meta)
    recv_exactly(sock, struct.unpack(">i", recv_exactly(sock, 4))[0])

    latencies = []
    offsets = []
    for i in range(args.requests):
        frame = produce_frame(i + 1, args.topic, batch)
        start = time.perf_counter()
        sock.sendall(frame)
        size = struct.unpack(">i", recv_exactly(sock, 4))[0]
        response = recv_exactly(sock, size)
        latencies.append(time.perf_counter() - start)
        # correlation id, [topic: name, [partition: index, error code, base offset, ...]]
        assert struct.unpack(">i", response[:4])[0] == i + 1
        at = 4 + 4 + 2 + len(args.topic.encode()) + 4 + 4
        error, base_offset = struct.unpack(">hq", response[at:at + 10])
        assert error == 0, f"produce failed with error {error}"
        offsets.append(base_offset)
    assert all(b - a == args.records_per_batch for a, b in zip(offsets, offsets[1:])), "offsets are not dense"
    latencies.sort()
    ms = lambda x: f"{x * 1000:.3f} ms"
    print(f"{len(batch):,} B batches ({args.records_per_batch} x {args.record_size} B): median {ms(statistics.median(latencies))}, "
          f"p90 {ms(latencies[int(len(latencies) * 0.9)])}, p99 {ms(latencies[int(len(latencies) * 0.99)])}, "
          f"{len(batch) * len(latencies) / sum(latencies) / 1e6:.0f} MB/s one at a time")


if __name__ == "__main__":
    main()
