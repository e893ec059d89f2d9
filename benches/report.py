#!/usr/bin/env python3
"""Turns benches/pipeline.sh's CSV into the table of docs/performance.md (medians of the
repetitions) and a plot. Usage: python3 benches/report.py target/bench/pipeline.csv [--plot docs/performance.png]"""
import argparse
import csv
import os
import platform
import statistics
from collections import defaultdict


def cpu_name():
    """The CPU's model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def machine():
    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()}, CPU execution provider"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--plot")
    a = p.parse_args()
    runs = defaultdict(list)
    with open(a.csv) as f:
        for r in csv.DictReader(f):
            runs[(r["model"], r["config"], r["width"], r["height"], r["runner"])].append(r)

    def median(key, field):
        rows = runs.get(key)
        return statistics.median(float(r[field]) for r in rows) if rows and rows[0][field] else None

    cases = sorted({k[:4] for k in runs if k[4] in ("ort", "element")},
                   key=lambda k: (int(k[2]) * int(k[3]), k[0], k[1]))
    print(f"\nMachine: {machine()}. Medians of {max(len(v) for v in runs.values())} runs.\n")
    print("| model | config | size | (a) ORT alone fps | (b) element fps | (b)/(a) | (c) Python fps "
          "| (b)/(c) | element latency ms | peak RSS MB (b) / (c) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    fmt = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    plot_rows = []
    for case in cases:
        a_fps, b_fps, c_fps = (median(case + (r,), "fps") for r in ("ort", "element", "python"))
        lat = median(case + ("element",), "latency_ms")
        rss_b, rss_c = median(case + ("element",), "peak_rss_mb"), median(case + ("python",), "peak_rss_mb")
        ratio = lambda x, y: "-" if x is None or not y else f"{x / y:.2f}"
        model, config, w, h = case
        print(f"| {model} | {config or 'defaults'} | {w}x{h} | {fmt(a_fps)} | {fmt(b_fps)} | "
              f"{ratio(b_fps, a_fps)} | {fmt(c_fps)} | {ratio(b_fps, c_fps)} | {fmt(lat)} | "
              f"{fmt(rss_b, 0)} / {fmt(rss_c, 0)} |")
        plot_rows.append((f"{model}{' ' + config if config else ''}\n{w}x{h}", a_fps, b_fps, c_fps))
    if a.plot and plot_rows:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(max(8, len(plot_rows) * 0.9), 4.5))
        x = range(len(plot_rows))
        for i, (label, colour) in enumerate([("(a) ONNX Runtime alone", "#888888"),
                                            ("(b) element", "#1f77b4"),
                                            ("(c) Python + OpenCV", "#ff7f0e")]):
            ax.bar([j + (i - 1) * 0.27 for j in x], [r[i + 1] or 0 for r in plot_rows], 0.27,
                   label=label, color=colour)
        ax.axhline(25, color="red", linewidth=0.8, linestyle="--", label="25 fps")
        ax.set_xticks(list(x))
        ax.set_xticklabels([r[0] for r in plot_rows], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("frames per second")
        ax.set_title(f"End-to-end throughput ({machine()})", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)
        print(f"\nplot: {a.plot}")


if __name__ == "__main__":
    main()
