#!/usr/bin/env python3
"""Puts CodecBenchmarks runs (package-benchmark markdown) and scripts/codec-baseline.sh runs (the lz4 / zstd CLI
benchmarks on the same bytes) side by side in one JSON file for papers/evaluation.md and papers/plots.py.

  (cd Benchmarks && swift package --disable-sandbox benchmark --target CodecBenchmarks --format markdown) > codec1.md
  scripts/codec-baseline.sh 3 > cli1.txt        # alternate the two, as many times as wanted
  python3 papers/codecs_json.py --bench codec1.md codec2.md --cli cli1.txt cli2.txt > papers/data/codecs-DATE.json

CodecBenchmarks' throughput column is iterations/s of 1 MiB of input, i.e. MiB/s; the CLIs print MB/s (10^6 bytes).
Both are given here in MB/s (10^6). Each side's best run is compared (the machine is shared: the best run is the one
least disturbed), and every run is kept.
"""
import argparse
import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_to_json import parse  # noqa: E402

MIB = 1.048576
CLI = re.compile(r"== json-(16KiB|1MiB): (lz4 -b1|zstd -b1|zstd -b3) .*\n.*\(x?([\d.]+)\),\s*([\d.]+) MB/s\s*,\s*([\d.]+) MB/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", nargs="+", required=True)
    parser.add_argument("--cli", nargs="+", required=True)
    args = parser.parse_args()

    ours = {}  # (codec, op, size) -> [MB/s per run: p0 and p50]
    for path in args.bench:
        _, benchmarks = parse(open(path).read())
        for b in benchmarks:
            m = re.match(r"^(lz4|zstd|zstd-1|gzip|snappy) (compress|decompress) (16 KiB|1 MiB)", b["name"])
            key = next((k for k in b["metrics"] if k.startswith("Throughput")), None)
            if not m or not key:
                continue
            t = b["metrics"][key]
            ours.setdefault(m.groups(), []).append(
                {"best": float(t["p0"]) * MIB, "median": float(t["p50"]) * MIB, "samples": int(t["samples"])})
    cli = {}
    versions = set()
    for path in args.cli:
        text = open(path).read()
        versions.update(l.strip("* ") for l in text.splitlines() if "by Yann Collet" in l)
        for size, tool, ratio, comp, decomp in CLI.findall(text):
            cli.setdefault((tool, size), []).append({"ratio": float(ratio), "compress": float(comp),
                                                     "decompress": float(decomp)})
    pairs = [("lz4", "lz4 -b1"), ("zstd", "zstd -b3"), ("zstd-1", "zstd -b1")]
    comparison = []
    for codec, tool in pairs:
        for size, cli_size in [("16 KiB", "16KiB"), ("1 MiB", "1MiB")]:
            for op in ["compress", "decompress"]:
                runs = ours.get((codec, op, size))
                cruns = cli.get((tool, cli_size))
                if not runs or not cruns:
                    continue
                best = max(r["best"] for r in runs)
                cbest = max(r[op] for r in cruns)
                comparison.append({"codec": codec, "op": op, "size": size, "cli": tool,
                                   "samsa MB/s": round(best, 1), "cli MB/s": cbest, "ratio": round(best / cbest, 3),
                                   "samsa runs": runs, "cli runs": [r[op] for r in cruns]})
    out = {"tool": "papers/codecs_json.py", "command": " ".join(sys.argv),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "units": "MB/s = 10^6 bytes of uncompressed input per second",
           "method": "CodecBenchmarks (Compression.compress/decompress into a reused buffer, 16 KiB batches or one "
                     "1 MiB buffer of JSON-like records) and the CLIs' -b benchmark on the same bytes (FNV-1a digests "
                     "match), runs alternated; best run of each side compared",
           "cli versions": sorted(versions), "comparison": comparison,
           "other codecs (samsa only, MB/s)": {f"{c} {o} {s}": [round(r["median"], 1) for r in runs]
                                               for (c, o, s), runs in sorted(ours.items()) if c in ("gzip", "snappy")}}
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
