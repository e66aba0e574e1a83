#!/usr/bin/env bash
# The compression libraries' own speed on the data CodecBenchmarks uses: writes the same JSON-like records
# (16 KiB and 1 MiB) to a temp directory and runs the lz4 and zstd command-line benchmarks on them, so that
# CodecBenchmarks' figures read as a fraction of what the libraries reach here.
#
#   scripts/codec-baseline.sh [seconds per benchmark, default 3]
#
# Compare "data fnv1a" below with the digest in CodecBenchmarks' memcpy benchmark names: equal digests mean
# equal bytes. `lz4 -b1` times raw LZ4 blocks (LZ4_compress_fast), `zstd -bN` one-shot ZSTD_compress2 at
# level N: no framing, no allocation, no copies: the ceiling for Compression.compress/decompress.
set -euo pipefail

seconds="${1:-3}"
for tool in lz4 zstd python3; do
    command -v "$tool" >/dev/null || { echo "codec-baseline: $tool is not installed" >&2; exit 1; }
done

dir="$(mktemp -d "${TMPDIR:-/tmp}/samsa-codec-baseline.XXXXXX")"
trap 'rm -rf "$dir"' EXIT

# Keep in step with CodecSample.json in Benchmarks/Benchmarks/CodecBenchmarks/CodecBenchmarks.swift.
python3 - "$dir" <<'PY'
import sys
M = (1 << 64) - 1
events = ["click", "view", "purchase", "scroll", "login", "logout"]
tags = ["mobile", "web", "eu", "us", "beta", "returning", "ad", "organic"]
state = 0x5A4D5341
def next_():
    global state
    state = (state + 0x9E3779B97F4A7C15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
count = 1 << 20
out = bytearray()
i = 0
while len(out) < count:
    r = next_()
    tag_list = ",".join('"%s"' % tags[(r >> (8 * j + 4)) % 8] for j in range((r >> 60) % 4))
    out += ('{"id":%d,"user":"u%04d","event":"%s","ts":%d,"amount":%d,"tags":[%s]}\n' % (
        i, r % 10000, events[(r >> 16) % 6], 1732400000000 + i * 37 + (r >> 24) % 1000,
        (r >> 34) % 100000, tag_list)).encode()
    i += 1
def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & M
    return h
for name, size in (("json-16KiB", 16 * 1024), ("json-1MiB", 1 << 20)):
    data = bytes(out[:size])
    open("%s/%s" % (sys.argv[1], name), "wb").write(data)
    print("%-11s %8d bytes, data fnv1a %x" % (name, size, fnv1a(data)))
PY

echo
echo "$(lz4 --version 2>&1 | head -1)"
echo "$(zstd --version 2>&1 | head -1)"
for file in json-16KiB json-1MiB; do
    echo
    echo "== $file: lz4 -b1 (compress, decompress)"
    lz4 -b1 -i"$seconds" "$dir/$file" 2>&1 | tr '\r' '\n' | grep -E 'MB/s.*MB/s' | tail -1
    for level in 1 3; do
        echo "== $file: zstd -b$level (compress, decompress)"
        zstd -b"$level" -i"$seconds" "$dir/$file" 2>&1 | tr '\r' '\n' | grep -E 'MB/s.*MB/s' | tail -1
    done
done
