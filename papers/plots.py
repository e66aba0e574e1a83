#!/usr/bin/env python3
"""Reads papers/data/*.json and writes the evaluation's figures to papers/plots/*.png.

  python3 -m venv /tmp/papers-venv && /tmp/papers-venv/bin/pip install -r papers/requirements.txt
  /tmp/papers-venv/bin/python papers/plots.py

Every figure shows a measurement beside the raw baseline measured in the same run (or, for the brokers, the other
brokers measured in the same rounds); the absolute values are printed on the bars.
"""
import glob
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
OUT = os.path.join(HERE, "plots")

BLUE, GREY, ORANGE, GREEN, RED = "#3b6ea5", "#9a9a9a", "#e08a2c", "#4a9a5a", "#b03a2e"


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def newest(pattern):
    """The newest file matching pattern (names carry the date; the last in sorted order wins)."""
    files = sorted(glob.glob(os.path.join(DATA, pattern)))
    return os.path.basename(files[-1]) if files else None


def number(text):
    return float(str(text).replace(",", ""))


def metric(doc, bench, key_prefix, pct="p50"):
    """A benchmark's percentile of the first metric whose name starts with key_prefix, scaled by its (K)/(M)."""
    for b in doc["benchmarks"]:
        if b["name"] == bench:
            for key, values in b["metrics"].items():
                if key.startswith(key_prefix):
                    scale = 1000 if "(K)" in key else 1_000_000 if "(M)" in key else 1
                    return number(values[pct]) * scale
    raise KeyError(f"{bench!r}: no metric {key_prefix!r}")


def label_bars(ax, bars, fmt="{:,.0f}", rotation=0):
    for bar in bars:
        h = bar.get_height()
        ax.annotate(fmt.format(h), (bar.get_x() + bar.get_width() / 2, h), ha="center", va="bottom",
                    fontsize=7, rotation=rotation, xytext=(0, 2), textcoords="offset points")


def save(fig, name):
    os.makedirs(OUT, exist_ok=True)
    fig.tight_layout()
    path = os.path.join(OUT, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("wrote", os.path.relpath(path, os.path.dirname(HERE)))


def engine_ratios():
    """samsa bench: each engine operation as a fraction of its raw baseline, main vs perf branch."""
    runs = [("main before perf (20:59, load 4.0)", "bench-2026-11-25.json", GREY),
            ("perf branch (22:14, load 2.9)", "bench-2026-11-25-perf.json", BLUE),
            ("main a485d65, perf merged (23:02, load 6.8-10)", "bench-2026-11-25-main-a485d65.json", "#7fa7cf")]
    names = ["append", "append-raw", "read", "read-random", "recovery", "cleaning"]
    targets = {"append": 0.9, "cleaning": 0.4}
    fig, ax = plt.subplots(figsize=(11, 4.4))
    width = 0.27
    for i, (label, file, color) in enumerate(runs):
        doc = load(file)
        by = {r["name"]: r for r in doc["results"]}
        xs, ys, texts = [], [], []
        for j, n in enumerate(names):
            if n in by:
                xs.append(j + (i - (len(runs) - 1) / 2) * width)
                ys.append(by[n]["ratio"])
                texts.append(f"{by[n]['ratio']:.2f}\n{by[n]['mbPerSecond']:,.0f}")
        bars = ax.bar(xs, ys, width, label=label, color=color)
        for bar, t in zip(bars, texts):
            ax.annotate(t, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=6.5, xytext=(0, 2), textcoords="offset points")
    for n, t in targets.items():
        j = names.index(n)
        ax.hlines(t, j - 0.45, j + 0.45, colors=RED, linestyles="dashed")
        ax.annotate(f"target {t:.0%}", (j, t), ha="center", va="bottom", fontsize=7, color=RED,
                    xytext=(0, 30), textcoords="offset points")
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(["Log.append\n(producer)", "Log.append\n(.raw)", "sequential\nread", "random 16 KiB\nread",
                        "recovery\n(Log.open)", "cleaner\n(10k keys)"], fontsize=8)
    ax.set_ylabel("samsa / raw baseline (same run)")
    ax.set_ylim(0, 1.35)
    ax.set_title("samsa bench, 1 GiB of 100-byte records: ratio (and MiB/s) against write()/pread()/pread+pwrite",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    save(fig, "engine-ratios.png")


def soak():
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, file, color in [("main before perf", "bench-2026-11-25.json", GREY),
                               ("perf branch", "bench-2026-11-25-perf.json", BLUE),
                               ("main a485d65 (load 7-10)", "bench-2026-11-25-main-a485d65.json", "#7fa7cf")]:
        s = load(file)["soak"]
        xs = [0] + [p["gigabytes"] for p in s["samples"]]
        ys = [s["startResidentMB"]] + [p["residentMB"] for p in s["samples"]]
        ax.plot(xs, ys, marker="o", markersize=3, color=color,
                label=f"{label}: {s['mbPerSecond']:.0f} MiB/s, peak {s['peakResidentMB']} MB")
    ax.set_xlabel("GiB appended (10 GiB soak)")
    ax.set_ylabel("resident set (MB)")
    ax.set_ylim(0, 40)
    ax.set_title("Memory during a 10 GiB append soak (samsa bench)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, "soak-rss.png")


def paired(ax, groups, pairs, title, ylabel, fmt="{:,.0f}", log=False):
    """groups: x labels; pairs: [(label, color, values)] drawn side by side."""
    n = len(pairs)
    width = 0.8 / n
    for i, (label, color, values) in enumerate(pairs):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(groups))]
        bars = ax.bar(xs, values, width, label=label, color=color)
        label_bars(ax, bars, fmt)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def reads():
    cases = ["1 segment (1 MiB)", "1 segment of 200 MiB", "200 segments (1 MiB each)"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, (title, file) in zip(axes, [("before perf (main 530a832)", "LogBenchmarks-2026-11-25-before-perf-read-recovery.json"),
                                        ("perf branch", "LogBenchmarks-2026-11-25-perf.json")]):
        doc = load(file)
        pre = "Read 16 KiB at a random offset: "
        log = [metric(doc, f"{pre}{c}: Log.read + pread of the slice", "reads/s") / 1000 for c in cases]
        raw = [metric(doc, f"{pre}{c}: baseline pread() at a random position", "reads/s") / 1000 for c in cases]
        paired(ax, ["1 seg, 1 MiB", "1 seg, 200 MiB", "200 segs x 1 MiB"],
               [("Log.read + pread", BLUE, log), ("pread() baseline", GREY, raw)],
               f"Random 16 KiB reads, {title}", "thousand reads/s (median)")
        for j, (a, b) in enumerate(zip(log, raw)):
            ax.annotate(f"{a / b:.2f}x", (j, max(a, b) * 1.08), ha="center", fontsize=8, color=RED)
        ax.set_ylim(0, 820)
    save(fig, "random-reads.png")


def recovery():
    fig, ax = plt.subplots(figsize=(7, 3.6))
    rows = []
    for label, file in [("before perf", "LogBenchmarks-2026-11-25-before-perf-read-recovery.json"),
                        ("perf branch", "LogBenchmarks-2026-11-25-perf.json")]:
        doc = load(file)
        pre = "Recovery of a 1 GiB segment: "
        rows.append((label, [metric(doc, pre + "Log.open rescanning it", "MB/s"),
                             metric(doc, pre + "baseline pread() + CRC32C of the same file", "MB/s"),
                             metric(doc, pre + "baseline pread() of the same file in 1 MiB chunks", "MB/s")]))
    paired(ax, [r[0] for r in rows],
           [("Log.open (rescan: CRC + indexes)", BLUE, [r[1][0] for r in rows]),
            ("pread() + CRC32C", ORANGE, [r[1][1] for r in rows]),
            ("pread() alone", GREY, [r[1][2] for r in rows])],
           "Recovery of a 1 GiB segment (LogBenchmarks, medians; perf run at load 5-7)", "MiB/s")
    save(fig, "recovery.png")


def cleaner():
    fig, ax = plt.subplots(figsize=(9, 3.8))
    configs = [("10000 keys, 128 MiB map", "Cleaner clean 1024 MiB of 100-byte records, 10000 keys, 128 MiB dedupe buffer",
                "Cleaner raw read+write 1024 MiB (10000 keys' log)"),
               ("1M keys, 128 MiB map", "Cleaner clean 1024 MiB of 100-byte records, 1000000 keys, 128 MiB dedupe buffer",
                "Cleaner raw read+write 1024 MiB (1000000 keys' log)"),
               ("1M keys, 8 MiB map", "Cleaner clean 1024 MiB of 100-byte records, 1000000 keys, 8 MiB dedupe buffer",
                "Cleaner raw read+write 1024 MiB (1000000 keys' log)")]
    pairs = []
    ratios = []
    for label, file, color in [("before perf: clean", "LogBenchmarks-2026-11-25-before-perf-cleaner.json", GREY),
                               ("perf branch: clean", "LogBenchmarks-2026-11-25-perf.json", BLUE),
                               ("2026-11-26: clean", "LogBenchmarks-2026-11-26-cleaner.json", GREEN)]:
        doc = load(file)
        clean = [metric(doc, c[1], "MB/s", "p0") for c in configs]
        raw = [metric(doc, c[2], "MB/s", "p0") for c in configs]
        pairs.append((label, color, clean))
        pairs.append((label.replace("clean", "raw read+write"), color, raw))
        ratios.append([a / b for a, b in zip(clean, raw)])
    pairs[1] = (pairs[1][0], "#cfcfcf", pairs[1][2])
    pairs[3] = (pairs[3][0], "#a9c4e0", pairs[3][2])
    pairs[5] = (pairs[5][0], "#b7dfb0", pairs[5][2])
    paired(ax, [c[0] for c in configs], pairs,
           "Cleaner: 1 GiB compacted log vs pread()+pwrite() of the same segments (LogBenchmarks, best of 3 each)",
           "MiB/s of log", log=True)
    for j in range(len(configs)):
        ax.annotate(f"ratio {ratios[0][j]:.2f} -> {ratios[1][j]:.2f} -> {ratios[2][j]:.2f}", (j, 4000), ha="center",
                    fontsize=8, color=RED)
    ax.set_ylim(20, 9000)
    save(fig, "cleaner.png")


def cleaner_series():
    """Every run of the 2026-11-26 series: the 1M-key cleaning's p50 over the raw read+write's p50, per run."""
    doc = load("LogBenchmarks-2026-11-26-cleaner-series.json")
    clean_name = "Cleaner clean 1024 MiB of 100-byte records, 1000000 keys, 128 MiB dedupe buffer"
    raw_name = "Cleaner raw read+write 1024 MiB (1000000 keys' log)"
    ratios = []
    for run in doc["runs"]:
        names = {b["name"] for b in run["benchmarks"]}
        if clean_name in names and raw_name in names:
            ratios.append(metric(run, clean_name, "MB/s", "p50") / metric(run, raw_name, "MB/s", "p50"))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    xs = range(1, len(ratios) + 1)
    ax.plot(xs, ratios, "o", color=BLUE, label="one run (p50 clean / p50 raw, 3 samples each)")
    median = sorted(ratios)[len(ratios) // 2]
    ax.axhline(median, color=BLUE, linestyle=":", label=f"median {median:.3f}")
    ax.axhline(0.40, color=RED, linestyle="--", label="target 0.40")
    ax.set_xticks(list(xs))
    ax.set_xlabel("run")
    ax.set_ylabel("cleaner / raw read+write")
    ax.set_ylim(0.3, 0.5)
    ax.set_title("Cleaner, 1 GiB, 1,000,000 keys: ratio per run (LogBenchmarks, 2026-11-26)", fontsize=9)
    ax.legend(fontsize=7)
    save(fig, "cleaner-1m-series.png")


def records_crc():
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    crc_file = newest("CRCBenchmarks-*.json")
    if crc_file:
        doc = load(crc_file)
        # Throughput is iterations/s of one buffer: x size = bytes/s.
        impl = [("CRC32C 16 KiB avx512", 16384), ("CRC32C 16 KiB sse4.2", 16384), ("CRC32C 16 KiB portable", 16384),
                ("Baseline 16 KiB memcpy", 16384),
                ("CRC32C 1 MiB avx512", 1 << 20), ("CRC32C 1 MiB sse4.2", 1 << 20), ("CRC32C 1 MiB portable", 1 << 20),
                ("Baseline 1 MiB memcpy", 1 << 20)]
        best = [metric(doc, n, "Throughput", "p0") * size / 1e9 for n, size in impl]
        med = [metric(doc, n, "Throughput", "p50") * size / 1e9 for n, size in impl]
        ax = axes[0]
        labels = [n.replace("CRC32C ", "").replace("Baseline ", "") for n, _ in impl]
        xs = range(len(impl))
        colors = [BLUE, BLUE, BLUE, GREY] * 2
        ax.bar(xs, best, 0.8, color=colors, alpha=0.35, label="best sample (p0)")
        bars = ax.bar(xs, med, 0.5, color=colors, label="median")
        label_bars(ax, bars, "{:.1f}")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=7, rotation=30, ha="right")
        ax.set_ylabel("GB/s")
        ax.set_title(f"CRC32C implementations vs memcpy ({crc_file})", fontsize=8)
        ax.legend(fontsize=7)
    doc = load("RecordBenchmarks-2026-11-25.json")
    pre = "Validate + iterate 100-byte records: "
    rows = [("none", pre + "none", pre + "none, validateRecords (the producer-side check)", "validateRecords"),
            ("lz4", pre + "lz4", pre + "lz4, baseline decompression alone", "decompression alone"),
            ("zstd", pre + "zstd", pre + "zstd, baseline decompression alone", "decompression alone")]
    it = [metric(doc, r[1], "Krec/s") / 1e3 for r in rows]
    base = [metric(doc, r[2], "Krec/s") / 1e3 for r in rows]
    paired(axes[1], [r[0] for r in rows], [("validate + iterate every record", BLUE, it),
                                           ("baseline (validateRecords / decompress alone)", GREY, base)],
           "16 KiB batch of 100-byte records (RecordBenchmarks medians)", "million records/s", fmt="{:.1f}")
    for j, (a, b) in enumerate(zip(it, base)):
        axes[1].annotate(f"{a / b:.2f}x", (j, max(a, b) * 1.12), ha="center", fontsize=8, color=RED)
    axes[1].set_ylim(0, max(base + it) * 1.3)
    axes[1].legend(fontsize=7, loc="upper left")
    save(fig, "records-crc.png")


def codecs():
    file = newest("codecs-*.json")
    if not file:
        return
    doc = load(file)
    fig, ax = plt.subplots(figsize=(10, 4))
    groups, ours, cli = [], [], []
    for row in doc["comparison"]:
        if row["codec"] not in ("lz4", "zstd"):
            continue
        groups.append(f"{row['codec']} {row['op'][:-4] + '.'}\n{row['size']}")
        ours.append(row["samsa MB/s"])
        cli.append(row["cli MB/s"])
    paired(ax, groups, [("samsa Compression (best of 2 runs)", BLUE, ours),
                        ("lz4 -b1 / zstd -b3 CLI (best of 4 runs)", GREY, cli)],
           "Codecs vs the CLIs' -b benchmarks on the same bytes (MB = 10^6 B); at load 8-12 "
           "the CLI runs were disturbed more", "MB/s of input")
    for j, (a, b) in enumerate(zip(ours, cli)):
        ax.annotate(f"{a / b:.2f}x", (j, max(a, b) + 0.08 * max(ours + cli)), ha="center", fontsize=8, color=RED)
    ax.set_ylim(0, max(ours + cli) * 1.25)
    ax.tick_params(axis="x", labelsize=7)
    save(fig, "codecs.png")


BROKER_COLORS = {"samsa": BLUE, "mock": ORANGE, "tansu": GREEN}
BROKER_NAMES = {"samsa": "samsa", "mock": "librdkafka mock", "tansu": "Tansu 0.6.0"}


def broker_panel(ax, doc, key, scale):
    """One panel of brokers side by side: bars at the medians of `key`, a dot per round. Returns the brokers
    drawn (samsa first) and their "/other: ratio" parts for the title."""
    rounds = doc["rounds"]
    present = [n for n in ["samsa", "mock", "tansu"] if n in rounds and key in rounds[n]]
    meds = [doc["medians"][n][key] * scale for n in present]
    bars = ax.bar(range(len(present)), meds, 0.6, color=[BROKER_COLORS[n] for n in present])
    label_bars(ax, bars, "{:,.0f}")
    for j, n in enumerate(present):
        pts = [v * scale for v in rounds[n][key]]
        ax.scatter([j] * len(pts), pts, color="black", s=10, zorder=3)
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels([BROKER_NAMES[n] for n in present], fontsize=8)
    ratios = [f"/{o}: {doc['ratios'][o][key]['median ratio']:.2f}" for o in present[1:]
              if key in doc["ratios"].get(o, {})]
    return ratios


def brokers():
    file = newest("kafka-perf-*.json")
    if not file:
        return
    doc = load(file)
    rounds = doc["rounds"]
    panels = [("produce rec/s", "produce, 100 B records (rec/s)", 1 / 1000, "thousand records/s"),
              ("consume small MB/s", "consume 16 topics x 4 x 4 MiB (MB/s)", 1, "MB/s"),
              ("consume 1 GiB MB/s", "consume 1 GiB from offset 0 (MB/s)", 1, "MB/s")]
    if "kcat produce rec/s" in rounds["samsa"]:
        panels.insert(1, ("kcat produce rec/s", "produce through kcat, 100 B records", 1 / 1000, "thousand records/s"))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.7 * len(panels), 3.8))
    for ax, (key, title, scale, ylabel) in zip(axes, panels):
        ratios = broker_panel(ax, doc, key, scale)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}\nsamsa{'; '.join(ratios)}", fontsize=8)
    fig.suptitle(f"One librdkafka client per workload, brokers interleaved ({len(rounds['samsa'][panels[0][0]])} rounds, "
                 f"bars = median, dots = rounds; {file})", fontsize=9)
    save(fig, "brokers.png")


def cli_tools():
    file = newest("cli-perf-*.json")
    if not file:
        return
    doc = load(file)
    rounds = doc["rounds"]
    order = [n for n in ["samsa", "mock", "tansu"] if n in rounds]
    panels = [("produce records/s", "producer-perf-test, 100 B\n(thousand records/s)"),
              ("consume records/s", "consumer-perf-test, 4 x 36,000 records\n(thousand records/s)"),
              ("consume large records/s", "consumer-perf-test, 4 x 500,000 records\n(thousand records/s)")]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, (key, title) in zip(axes, panels):
        ratios = broker_panel(ax, doc, key, 1 / 1000)
        ax.set_title(f"{title}\n{'; '.join('samsa' + r for r in ratios)}", fontsize=8)
    failed = sorted({e["target"] for e in doc.get("errors", [])} - set(order))
    note = f"; against {', '.join(failed)}: failed every round (see evaluation.md)" if failed else ""
    fig.suptitle(f"samsa's CLI perf tools (the same client) against the brokers, interleaved rounds "
                 f"(bars = median, dots = rounds{note})", fontsize=9)
    save(fig, "cli-perf.png")


def kafka_experiments():
    """Section 10: Kafka's own experiments re-run on samsa, its published figures beside (other hardware)."""
    files = glob.glob(os.path.join(DATA, "kafka-experiments-*.json"))
    if not files:
        return
    # the run that started last (by the date inside; "-run2" sorts before "" by name)
    docs = sorted((load(os.path.basename(f))["date"], os.path.basename(f)) for f in files)
    file = docs[-1][1]
    doc = load(file)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    ax = axes[0]
    k11, k14 = doc.get("k2011", {}), doc.get("k2014", {})
    rows = [("K2011\nbatch 1\nacks=0", k11.get("producer batch 1 acks=0"), 50_000),
            ("K2011\nbatch 50", k11.get("producer batch 50"), 400_000),
            ("K2011\nconsumer", k11.get("consumer"), 22_000),
            ("K2014\nproducer\nlinger 0", k14.get("producer"), 821_557),
            ("K2014\nconsumer", k14.get("consumer"), 940_521)]
    rows = [r for r in rows if r[1]]
    x = range(len(rows))
    b1 = ax.bar([i - 0.2 for i in x], [r[1]["records/s"] / 1000 for r in rows], 0.4, color=BLUE, label="samsa, here")
    b2 = ax.bar([i + 0.2 for i in x], [r[2] / 1000 for r in rows], 0.4, color=GREY, label="Kafka, published")
    label_bars(ax, b1, rotation=90)
    label_bars(ax, b2, rotation=90)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 3)
    ax.set_xticks(list(x))
    ax.set_xticklabels([r[0] for r in rows], fontsize=7)
    ax.set_ylabel("thousand records/s (log)")
    ax.set_title("same experiments, other hardware\n(indicative only)", fontsize=8)
    ax.legend(fontsize=7)
    ax = axes[1]
    sizes = doc.get("sizes") or {}
    if sizes:
        zs = sorted(sizes, key=int)
        med = lambda runs, k: sorted(r[k] for r in runs)[len(runs) // 2] if len(runs) % 2 else \
            sum(sorted(r[k] for r in runs)[len(runs) // 2 - 1:len(runs) // 2 + 1]) / 2
        ax.plot([int(z) for z in zs], [med(sizes[z], "records/s") / 1000 for z in zs], "o-", color=BLUE,
                label="thousand records/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax2 = ax.twinx()
        ax2.plot([int(z) for z in zs], [med(sizes[z], "MB/s") for z in zs], "s--", color=ORANGE, label="MB/s")
        ax2.set_ylabel("MB/s (values)", fontsize=8)
        ax.set_xlabel("record size, bytes")
        ax.set_ylabel("thousand records/s (log)", fontsize=8)
        ax.set_title("producer-perf-test vs record size (median of rounds)", fontsize=8)
        ax.legend(loc="upper left", fontsize=7)
        ax2.legend(loc="center left", fontsize=7)
    ax = axes[2]
    codecs = doc.get("codecs") or {}
    if codecs:
        cs = list(codecs)
        meds = [sorted(r["records/s"] for r in codecs[c])[len(codecs[c]) // 2] / 1000 for c in cs]
        bars = ax.bar(range(len(cs)), meds, 0.6, color=[GREY] + [BLUE] * (len(cs) - 1))
        label_bars(ax, bars)
        ax.set_ylim(0, max(meds) * 1.35)
        for j, c in enumerate(cs):
            ax.scatter([j] * len(codecs[c]), [r["records/s"] / 1000 for r in codecs[c]], color="black", s=10,
                       zorder=3)
        ax.set_xticks(range(len(cs)))
        ax.set_xticklabels(cs, fontsize=8)
        ax.set_ylabel("thousand records/s")
        ax.set_title("producer-perf-test, 100 B, by compression.type\n(bar: upper median; dots: rounds)",
                     fontsize=8)
    fig.suptitle(f"Kafka's experiments ([K2011], [K2014]) re-run on samsa, {file}", fontsize=9)
    save(fig, "kafka-experiments.png")


def appends():
    """Stop 14: each append path's ratio to write() of the same bytes (one write() per 16 KiB batch), per round of
    samsa bench runs, and the LogBenchmarks p50 ratios. The pipelined appender is shown as first built (one write
    per batch, cf94f26) and with group commit (ff45727)."""
    rows = {"append": "Append 16 KiB batches: Log.append",
            "append-raw": "Append 16 KiB batches: Log.append(origin: .raw)",
            "append-pipelined": "Append 16 KiB batches: LogAppender (checks here, writes on its thread)"}
    baseline = "Append 16 KiB batches: baseline write() of the same bytes"
    paths = [("append", "Log.append (producer, one thread)", GREY, "e", "group"),
             ("append-raw", "Log.append(origin: .raw) (replica)", GREEN, "e", "group"),
             ("append-pipelined", "LogAppender, one write per batch", "#7fa7cf", "d", ""),
             ("append-pipelined", "LogAppender, group commit (up to 256 KiB per write)", BLUE, "e", "group")]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for i, (name, label, color, bench, lb) in enumerate(paths):
        rounds = []
        for file in [f"bench-2026-11-26{bench}.json", f"bench-2026-11-26{bench}-run2.json"]:
            r = next(r for r in load(file)["results"] if r["name"] == name)
            rounds += [b / a for a, b in zip(r["samples"], r["baselineSamples"])]
        ax.plot([i - 0.12] * len(rounds), rounds, "o", color=color, alpha=0.7, label=label)
        for run in ["run1", "run2"]:
            doc = load(f"LogBenchmarks-2026-11-26-append-{lb + '-' if lb else ''}{run}.json")
            ratio = metric(doc, rows[name], "MB/s", "p50") / metric(doc, baseline, "MB/s", "p50")
            ax.plot([i + 0.12], [ratio], "D", color=color, markeredgecolor="black")
    ax.plot([], [], "D", color="white", markeredgecolor="black", label="LogBenchmarks run (p50 / p50 of write())")
    ax.plot([], [], "o", color="white", markeredgecolor="grey", label="dots: samsa bench rounds (two runs of 5)")
    ax.axhline(0.90, color=RED, linestyle="--", label="target 0.90")
    ax.axhline(1.0, color=GREY, linestyle=":")
    ax.set_xticks(range(len(paths)))
    ax.set_xticklabels(["append", "append-raw", "pipelined\n(one write per batch)", "pipelined\n(group commit)"])
    ax.set_ylabel("throughput / write() of the same bytes")
    ax.set_ylim(0.6, 2.0)
    ax.set_title("Appending 1 GiB of 16 KiB batches (100 B records), blocks reserved ahead (2026-11-26, stop 14)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    save(fig, "appends.png")


def main():
    appends()
    engine_ratios()
    soak()
    reads()
    recovery()
    cleaner()
    cleaner_series()
    records_crc()
    codecs()
    brokers()
    cli_tools()
    kafka_experiments()


if __name__ == "__main__":
    main()
