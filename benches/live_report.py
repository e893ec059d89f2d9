#!/usr/bin/env python3
"""Turns benches/live.sh's JSON lines (one per `bench stats` run) into a CSV, one row per run,
and prints a markdown table, one row per model and mode, with the machine in the header.

    python3 benches/live_report.py target/bench/live.jsonl --csv target/bench/live.csv
"""
import argparse
import csv
import json
import os
import platform
import subprocess

from report import cpu_name  # benches/report.py, beside this script
import time

LIVE = ("fakesink", "ximagesink", "rtsp")
COLUMNS = (
    "model", "element", "mode", "props", "scenario", "status", "seconds", "frames_in", "arrived",
    "rendered", "dropped", "upstream_dropped", "fps", "in_fps", "average_rate", "live",
    "latency_ms", "max_latency_ms", "arrival_p50_ms", "arrival_p95_ms", "shown_frames",
    "shown_p50_ms", "shown_p95_ms", "peak_rss_mb", "reason", "error",
)


def machine():
    cpu = cpu_name()
    system = platform.system()
    try:
        with open("/etc/os-release") as f:
            system = next(l.split("=", 1)[1].strip().strip('"') for l in f
                          if l.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        pass
    try:
        gst = subprocess.run(["gst-launch-1.0", "--version"], capture_output=True, text=True,
                             check=False).stdout.split("\n")[1].strip()
    except (OSError, IndexError):
        gst = "GStreamer unknown"
    ort = os.path.realpath("/usr/local/lib/libonnxruntime.so.1").rpartition(".so.")[2] or "?"
    load = ", ".join(f"{l:.2f}" for l in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, {system}, {gst}, ONNX Runtime {ort} "
            f"(CPU provider); load average at report {load}")


def read_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            run = json.loads(line)
            if run.get("status") == "ok":
                run["upstream_dropped"] = max(0, run["frames_in"] - run["arrived"])
            runs.append(run)
    return runs


def write_csv(runs, path):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for run in runs:
            w.writerow({k: csv_value(run.get(k)) for k in COLUMNS})


def csv_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def num(v, digits=0):
    return "-" if v is None else f"{v:.{digits}f}"


def cell(run, what):
    if run is None:
        return "-"
    if run["status"] != "ok":
        return run["status"]
    if what == "offline":
        return num(run["fps"], 1)
    if what == "counts":
        return f"{run['rendered']}/{run['dropped']}/{num(run['fps'], 1)} ({run['frames_in']} in)"
    # latency
    if run.get("latency_ms") is None:
        return "-"
    return (f"{num(run['latency_ms'])} ({num(run.get('shown_p50_ms'))}, "
            f"{num(run.get('shown_p95_ms'))})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("jsonl")
    p.add_argument("--csv")
    p.add_argument("--seconds", default="?")
    p.add_argument("--warmup", default="?")
    p.add_argument("--rtsp-protocols", default="tcp")
    a = p.parse_args()
    runs = read_runs(a.jsonl)
    if a.csv:
        write_csv(runs, a.csv)

    by_key = {(r["model"], r["mode"], r["scenario"]): r for r in runs}
    rows = list(dict.fromkeys((r["model"], r["mode"]) for r in runs))
    print(f"\nMachine: {machine()}. {time.strftime('%Y-%m-%d %H:%M')}; 640x480, a window of "
          f"{a.seconds} s after {a.warmup} s of warm-up per run; RTSP over "
          f"{a.rtsp_protocols} on 127.0.0.1 (the server's JPEG encoding shares the CPU).\n")
    print("| model | mode | offline fps | fakesink rendered/dropped/fps "
          "| ximagesink rendered/dropped/fps | rtsp rendered/dropped/fps "
          "| latency ms fakesink | latency ms ximagesink | latency ms rtsp |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model, mode in rows:
        get = lambda s: by_key.get((model, mode, s))  # noqa: E731
        cells = [cell(get("offline"), "offline")]
        cells += [cell(get(s), "counts") for s in LIVE]
        cells += [cell(get(s), "latency") for s in LIVE]
        print(f"| {model} | {mode} | " + " | ".join(cells) + " |")
    print("\nOffline fps: frames through `videotestsrc ! videoconvert ! element ! fakesink` per "
          "second; in non-blocking mode frames do not wait for inference (each is drawn with the "
          "newest finished result), so this is the pass-through rate, not the inference rate. "
          "rendered/dropped/fps (N in): frames the sink rendered and dropped (its `stats`) "
          "during the window, rendered frames per second, and the frames that entered the "
          "element (those neither rendered nor dropped by the sink were dropped between, e.g. "
          "by QoS; a live source offers 30 a second unless the pipeline holds it back, and "
          "jpegdec drops late frames before the element). Latency: the pipeline latency from a "
          "LATENCY query at the end of the window, then in brackets the median and 95th "
          "percentile, over rendered frames, of capture (the buffer's PTS as running time) to "
          "display (arrival at the sink, or capture + latency when it came earlier). n/a: the "
          "element has no such property. The CSV's average_rate is GstBaseSink's running QoS "
          "rate (buffer duration over processing time), not frames per second.")
    failed = [r for r in runs if r["status"] == "failed"]
    for r in failed:
        print(f"\nFAILED {r['model']} {r['mode']} {r['scenario']}: {r.get('error', '')}")


if __name__ == "__main__":
    main()
