#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/corpus/<target>/ from the repository's fixtures and golden vectors.

  python3 fuzz/seed_corpus.py

Sources:
  record_batch       whole batches cut from the fixture segments (every codec, control and transactional batches,
                     idempotent producers, LogAppendTime, compacted keys), at most 8 per fixture set
  decompress_<codec> the records sections of the fixture batches compressed with that codec
  kafka_request      request frames real clients sent (Tests/SamsaProtocolTests/Golden/ClientCaptures.swift), and
                     kafka-python's request bodies (KafkaPythonVectors.swift) behind a header of the right version
  request_body       the same bodies, prefixed with the target's two selector bytes (API key, version)
  checkpoint         checkpoint files: Kafka's layout, empty, many entries, odd spacing
  server_properties  the repository's config/server.properties and a few files with comments, escapes, continuations
  producer_snapshot  snapshots written in Kafka's format (version 1, CRC32C, 46-byte entries)
  log_recovery       small fixture segments (torn tail, corrupt CRC, a few batches) with and without their index
Files are named by the SHA-1 of their contents, as libFuzzer names what it adds.
"""
import hashlib
import json
import os
import re
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
FIXTURES = os.path.join(ROOT, "fixtures")
GOLDEN = os.path.join(ROOT, "Tests", "SamsaProtocolTests", "Golden")
API_KEYS = os.path.join(ROOT, "Sources", "SamsaProtocol", "Generated", "ApiKey.swift")
CODECS = {1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
MAX_FILE = 16 << 10


def put(target, data):
    if len(data) > MAX_FILE:
        return
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def batches(segment):
    position = 0
    while position + 61 <= len(segment):
        size = struct.unpack(">i", segment[position + 8:position + 12])[0] + 12
        if size < 61 or position + size > len(segment):
            break
        yield segment[position:position + size]
        position += size


def fixture_sets():
    for name in sorted(os.listdir(FIXTURES)):
        directory = os.path.join(FIXTURES, name)
        if not os.path.isdir(directory):
            continue
        manifest = json.load(open(os.path.join(directory, "manifest.json")))
        yield name, os.path.join(directory, "%s-%d" % (manifest["topic"], manifest["partition"]))


def record_batches_and_sections():
    per_codec = {codec: 0 for codec in CODECS.values()}
    for name, partition in fixture_sets():
        kept = 0
        for file in sorted(os.listdir(partition)):
            if not file.endswith(".log"):
                continue
            segment = open(os.path.join(partition, file), "rb").read()
            for batch in batches(segment):
                attributes = struct.unpack(">h", batch[21:23])[0]
                codec = CODECS.get(attributes & 7)
                if codec and per_codec[codec] < 12:
                    put("decompress_" + codec, batch[61:])
                    per_codec[codec] += 1
                if kept < 8 and (kept < 4 or attributes & 0x30):
                    put("record_batch", batch)
                    kept += 1


API_NAMES = {}  # "ProduceRequest" -> (key, low, high, flexibleFrom)


def load_api_keys():
    source = open(API_KEYS).read()
    cases = dict((name, int(value)) for name, value in re.findall(r"case (\w+) = (\d+)", source))
    supported = dict((name, (int(a), int(b))) for name, a, b in re.findall(r"case \.(\w+): return (\d+)\.\.\.(\d+)", source))
    flexible_block = source[source.index("flexibleFrom: Int16?"):]
    flexible_block = flexible_block[:flexible_block.index("\n    }\n")]
    flexible = dict((name, int(v)) for name, v in re.findall(r"case \.(\w+): return (\d+)", flexible_block))
    implemented = re.search(r"static let implemented: \[ApiKey\] = \[([^\]]*)\]", source).group(1)
    order = [n.strip().lstrip(".") for n in implemented.split(",")]
    ranges = [(n, supported[n]) for n in order if n in supported]
    for n, (low, high) in ranges:
        API_NAMES[n[0].upper() + n[1:] + "Request"] = (cases[n], low, high, flexible.get(n))
    return ranges


def header(key, version, flexible_from):
    client = b"fuzz"
    h = struct.pack(">hhih", key, version, 7, len(client)) + client
    if flexible_from is not None and version >= flexible_from:
        h += b"\x00"
    return h


def requests():
    ranges = load_api_keys()
    index_of = dict((n, i) for i, (n, _) in enumerate(ranges))
    captures = open(os.path.join(GOLDEN, "ClientCaptures.swift")).read()
    for hexes in re.findall(r'hex: "([0-9a-f]*)"', captures):
        put("kafka_request", bytes.fromhex(hexes))
    vectors = open(os.path.join(GOLDEN, "KafkaPythonVectors.swift")).read()
    for message, version, body in re.findall(r'message: "(\w+Request)", version: (\d+),\s*hex: "([0-9a-f]*)"', vectors):
        if message not in API_NAMES:
            continue
        key, low, high, flexible_from = API_NAMES[message]
        version = int(version)
        if not low <= version <= high:
            continue
        body = bytes.fromhex(body)
        name = message[0].lower() + message[1:-len("Request")]
        put("request_body", bytes([index_of[name], version - low]) + body)
        put("kafka_request", header(key, version, flexible_from) + body)


def checkpoints():
    put("checkpoint", b"0\n0\n")
    put("checkpoint", b"0\n1\norders 0 4242\n")
    put("checkpoint", b"0\n3\norders 0 1\norders 1 2\n__consumer_offsets 49 9223372036854775807\n")
    put("checkpoint", b"0\n2\n  a 0 5  \r\nb\t1 0\n\n")
    put("checkpoint", b"1\n0\n")
    put("checkpoint", b"0\n2\norders 0 1\n")


def properties():
    put("server_properties", b"broker.id=0\nlisteners=PLAINTEXT://127.0.0.1:9092\nlog.dirs=./data\nnum.partitions=1\n")
    put("server_properties", b"# comment\n! bang\nkey = value with spaces\nk2:v2\nk3 v3\nmulti=one \\\n   two\n")
    put("server_properties", b"esc\\=aped\\:key=\\u00e9t\\u00e9\\t\\n\r\nempty=\n  \n")
    config = os.path.join(ROOT, "config", "server.properties")
    if os.path.exists(config):
        put("server_properties", open(config, "rb").read())


def snapshot(entries):
    body = struct.pack(">i", len(entries))
    for producer, epoch, last_sequence, last_offset, delta, timestamp, coordinator in entries:
        body += struct.pack(">qhiqiqiq", producer, epoch, last_sequence, last_offset, delta, timestamp, coordinator, -1)
    return struct.pack(">hI", 1, crc32c(body)) + body


def snapshots():
    put("producer_snapshot", snapshot([]))
    put("producer_snapshot", snapshot([(1000, 0, 4, 10, 4, 1700000000000, -1)]))
    put("producer_snapshot", snapshot([(1, 2, 2147483647, 99, 3, 1, 5), (2, 0, -1, -1, 0, 0, -1), (3, 7, 0, 0, 0, 5, -1)]))
    for name, partition in fixture_sets():
        for file in sorted(os.listdir(partition)):
            if file.endswith(".snapshot"):
                put("producer_snapshot", open(os.path.join(partition, file), "rb").read())


def recoveries():
    for name, partition in fixture_sets():
        if name not in ("torn-tail", "corrupt-crc", "idempotent", "zstd"):
            continue
        files = sorted(f for f in os.listdir(partition) if f.endswith(".log"))
        segment = open(os.path.join(partition, files[-1]), "rb").read()
        index = open(os.path.join(partition, files[-1][:-4] + ".index"), "rb").read()
        whole = list(batches(segment))
        if name in ("torn-tail", "corrupt-crc"):
            # The damaged end: the last whole batches and whatever follows them.
            log = b"".join(whole[-3:]) + segment[sum(len(b) for b in whole):]
        else:
            log = b"".join(whole[:6])
        for flags in (0, 1, 2):
            idx = index if flags == 1 else b""
            put("log_recovery", bytes([flags, len(idx) >> 8, len(idx) & 255]) + idx + log)


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    record_batches_and_sections()
    requests()
    checkpoints()
    properties()
    snapshots()
    recoveries()
    total = 0
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        total += size
        print("%-20s %4d files %8d bytes" % (target, len(files), size))
    print("%-20s %4s       %8d bytes" % ("total", "", total))


if __name__ == "__main__":
    main()
