#!/usr/bin/env python3
"""Check a running triton/serve.py from a KServe v2 gRPC client (tritonclient).

For each model: reads ModelMetadata and ModelConfig (the ONNX metadata_props
come back as config ``parameters``), sends frames from several concurrent
client threads, compares every output with ONNX Runtime run locally on the
same input (max abs diff), and reads ModelStatistics before and after to show
that Triton's dynamic batcher merged requests (execution_count <
inference_count).

    python triton/check.py --models style_mosaic_rt,segmentation_unet,anomaly_brick

Exit status 0 when every output matches within --tolerance.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import threading
import time

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient
from google.protobuf import json_format

ROOT = pathlib.Path(__file__).resolve().parent.parent


def stats(client, model: str) -> dict:
    s = client.get_inference_statistics(model_name=model, as_json=True)
    m = s["model_stats"][0]
    return {
        "inference_count": int(m.get("inference_count", 0)),
        "execution_count": int(m.get("execution_count", 0)),
        "batch_stats": {
            int(b["batch_size"]): int(b["compute_infer"].get("count", 0)) for b in m.get("batch_stats", [])
        },
        "queue_ns": int(m["inference_stats"].get("queue", {}).get("ns", 0)),
        "success": int(m["inference_stats"].get("success", {}).get("count", 0)),
    }


def run_model(args, model: str, sizes: list[tuple[int, int]]) -> bool:
    url = args.url
    client = grpcclient.InferenceServerClient(url=url)
    meta = client.get_model_metadata(model, as_json=True)
    cfg = client.get_model_config(model, as_json=True)["config"]
    params = {k: v.get("string_value", "") for k, v in cfg.get("parameters", {}).items()}
    print(f"== {model}")
    print(f"   metadata inputs={[(i['name'], i['datatype'], i['shape']) for i in meta['inputs']]}")
    print(f"   metadata outputs={[(o['name'], o['datatype'], o['shape']) for o in meta['outputs']]}")
    print(
        f"   config max_batch_size={cfg.get('max_batch_size')} dynamic_batching={cfg.get('dynamic_batching')}"
    )
    shown = {k: params[k] for k in ("kind", "input_range", "size_multiple", "channel_order", "serve.batch_mode") if k in params}
    print(f"   config parameters (ONNX metadata_props): {shown} (+{len(params) - len(shown)} more)")

    onnx_path = pathlib.Path(args.onnx_dir) / f"{params.get('serve.onnx_file', model + '.onnx')}"
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    local = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    in_name = meta["inputs"][0]["name"]
    out_names = [o["name"] for o in meta["outputs"]]

    before = stats(client, model)
    errors: list[str] = []
    diffs: list[float] = []
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.threads)

    def worker(tid: int):
        c = grpcclient.InferenceServerClient(url=url)
        h, w = sizes[tid % len(sizes)]
        rng = np.random.default_rng(tid)
        barrier.wait()
        for i in range(args.frames):
            x = rng.random((1, 3, h, w), dtype=np.float32)
            inp = grpcclient.InferInput(in_name, list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            outs = [grpcclient.InferRequestedOutput(n) for n in out_names]
            t = time.monotonic()
            try:
                r = c.infer(model, [inp], outputs=outs, client_timeout=args.timeout)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"thread {tid} frame {i}: {exc}")
                continue
            dt = time.monotonic() - t
            ref = local.run(out_names, {in_name: x})
            d = max(float(np.max(np.abs(r.as_numpy(n).astype(np.float64) - e))) for n, e in zip(out_names, ref))
            with lock:
                diffs.append(d)
                latencies.append(dt)
        c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    after = stats(client, model)
    client.close()

    inf = after["inference_count"] - before["inference_count"]
    exe = after["execution_count"] - before["execution_count"]
    bs = {k: v - before["batch_stats"].get(k, 0) for k, v in after["batch_stats"].items()}
    bs = {k: v for k, v in sorted(bs.items()) if v}
    n = len(diffs)
    print(
        f"   {args.threads} threads x {args.frames} frames, sizes {sorted(set(sizes[t % len(sizes)] for t in range(args.threads)))} (HxW): "
        f"{n} ok, {len(errors)} errors, wall {wall:.2f}s, {n / wall:.1f} frames/s"
    )
    if latencies:
        lat = np.array(latencies) * 1000
        print(f"   latency ms: median {np.median(lat):.1f}, p90 {np.percentile(lat, 90):.1f}, max {lat.max():.1f}")
    print(f"   max abs diff vs local onnxruntime: {max(diffs) if diffs else float('nan'):.3g}")
    print(
        f"   statistics delta: inference_count {inf}, execution_count {exe} "
        f"(mean batch {inf / exe if exe else float('nan'):.2f}), executions by batch size {bs}"
    )
    for e in errors[:5]:
        print(f"   ERROR {e}")
    ok = not errors and n > 0 and max(diffs) <= args.tolerance
    print(f"   {'PASS' if ok else 'FAIL'}{' (dynamic batching seen)' if exe and exe < inf else ''}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="127.0.0.1:8001")
    ap.add_argument("--models", default="style_mosaic_rt")
    ap.add_argument("--onnx-dir", default=str(ROOT / "models"))
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--frames", type=int, default=6, help="frames per thread")
    ap.add_argument("--size", default="360x640", help="HxW; several comma-separated sizes are spread over the threads")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request client timeout, s")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.size.split(",")]
    c = grpcclient.InferenceServerClient(url=args.url)
    print(f"server live={c.is_server_live()} ready={c.is_server_ready()} {c.get_server_metadata(as_json=True)}")
    c.close()
    ok = True
    for model in args.models.split(","):
        ok &= run_model(args, model, sizes)
    print("ALL PASS" if ok else "SOME FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
