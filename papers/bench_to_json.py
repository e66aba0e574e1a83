#!/usr/bin/env python3
"""Turns package-benchmark's markdown output (`--format markdown`, grouped by metric) into the JSON layout of
papers/data/*Benchmarks-*.json: every metric's percentiles per benchmark, as printed.

  cd Benchmarks && swift package --disable-sandbox benchmark --target CRCBenchmarks --format markdown > crc.md
  python3 papers/bench_to_json.py crc.md --command "<the command above>" [--note "..."] > papers/data/CRCBenchmarks-DATE.json

A row's unit suffix ("(K)", "(M)", "(ns)") and its '*' (per scaled iteration) move to the metric's name, as in the
files already there: "Throughput (# / s) (K)", "Time (wall clock) (ns) *".
"""
import argparse
import json
import re
import sys

PERCENTILES = ["p0", "p25", "p50", "p75", "p90", "p99", "p100", "samples"]


def parse(text):
    host = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Host "):
            host = line.strip()
            break
    benchmarks = {}
    metric = None
    for line in lines:
        if line.startswith("### "):
            metric = line[4:].strip()
            continue
        if metric is None or not line.startswith("|") or line.startswith("|:") or line.startswith("| Test"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 1 + len(PERCENTILES):
            continue
        name = cells[0]
        star = name.endswith(" *")
        if star:
            name = name[:-2]
        unit = None
        m = re.match(r"^(.*) (\((?:K|M|G|#|ns|μs|us|ms|s)\))$", name)
        if m:
            name, unit = m.group(1), m.group(2)
        if ":" in name:
            name = name.split(":", 1)[1]
        key = metric + (" " + unit if unit else "") + (" *" if star else "")
        benchmarks.setdefault(name, {})[key] = dict(zip(PERCENTILES, cells[1:]))
    return host, [{"name": n, "metrics": dict(sorted(m.items()))} for n, m in sorted(benchmarks.items())]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("markdown")
    parser.add_argument("--command", required=True, help="the command that produced the markdown")
    parser.add_argument("--note")
    args = parser.parse_args()
    host, benchmarks = parse(open(args.markdown).read())
    out = {
        "command": args.command,
        "source": "package-benchmark --format markdown, parsed: every metric's percentiles per benchmark, as printed "
                  "(units in the metric name; '*' = per scaled iteration; (K)/(M) = thousands/millions)",
        "host": host,
    }
    if args.note:
        out["note"] = args.note
    out["benchmarks"] = benchmarks
    json.dump(out, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
