#!/usr/bin/env python3
"""Fault behaviour of Triton (triton/serve.py) as a tritonclient gRPC client sees it.

Starts and stops its own serve.py (ports --grpc-port/--http-port/--metrics-port,
127.0.0.1 only) and prints what each case gives: error class, gRPC status,
error text, and how long it took.

    python triton/faults.py            # all cases, about 2 minutes on 2 cores

Cases: no server; unknown model; wrong input shape / dtype / batch too big;
slow model vs client timeout; mixed H/W under load (does Triton batch them?);
tritonserver killed mid-stream, then restarted (does the same client
reconnect?); serve.py SIGKILLed (does tritonserver outlive it?).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = "style_mosaic_rt"


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def find_tritonserver(pid: int) -> int | None:
    for c in children(pid):
        try:
            if os.readlink(f"/proc/{c}/exe").endswith("tritonserver"):
                return c
        except OSError:
            pass
    return None


class Server:
    def __init__(self, args, extra: list[str], log: str):
        self.args = args
        self.extra = extra
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.start_s = 0.0

    def start(self) -> "Server":
        cmd = [
            sys.executable,
            str(HERE / "serve.py"),
            f"{MODEL}={ROOT / 'models' / (MODEL + '.onnx')}",
            "--grpc-port",
            str(self.args.grpc_port),
            "--http-port",
            str(self.args.http_port),
            "--metrics-port",
            str(self.args.metrics_port),
            "--intra-op-threads",
            "1",
            *self.extra,
        ]
        t = time.monotonic()
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.logf, text=True, start_new_session=True, cwd=ROOT
        )
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.startswith("READY"):
                break
        else:
            raise RuntimeError(f"serve.py exited before READY, see {self.log}")
        self.start_s = time.monotonic() - t
        # keep draining stdout (tritonserver logs there)
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()


def frame(h=360, w=640, c=3, dtype=np.float32, n=1):
    return np.random.default_rng(0).random((n, c, h, w)).astype(dtype)


def infer(client, x, model=MODEL, timeout=None, dtype="FP32"):
    i = grpcclient.InferInput("input", list(x.shape), dtype)
    i.set_data_from_numpy(x)
    return client.infer(model, [i], client_timeout=timeout)


def attempt(label: str, fn) -> None:
    t = time.monotonic()
    try:
        r = fn()
        print(f"-- {label}: OK in {time.monotonic() - t:.3f}s{'' if r is None else ' ' + str(r)}")
    except InferenceServerException as e:
        print(
            f"-- {label}: InferenceServerException after {time.monotonic() - t:.3f}s\n"
            f"     status={e.status()!r}\n     message={e.message()!r}"
        )
    except Exception as e:  # noqa: BLE001
        print(f"-- {label}: {type(e).__name__} after {time.monotonic() - t:.3f}s: {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grpc-port", type=int, default=18001)
    ap.add_argument("--http-port", type=int, default=18000)
    ap.add_argument("--metrics-port", type=int, default=18002)
    ap.add_argument("--logdir", default="/tmp")
    args = ap.parse_args()
    url = f"127.0.0.1:{args.grpc_port}"

    print("== 1. no server listening")
    c = grpcclient.InferenceServerClient(url=url)
    attempt("is_server_live()", lambda: c.is_server_live())
    attempt("infer()", lambda: infer(c, frame()))
    attempt("infer(client_timeout=2)", lambda: infer(c, frame(), timeout=2.0))
    c.close()

    print("== 2. bad requests against a running server")
    srv = Server(args, [], f"{args.logdir}/faults-serve-1.log").start()
    print(f"   (serve.py READY after {srv.start_s:.1f}s)")
    c = grpcclient.InferenceServerClient(url=url)
    attempt("good 360x640 frame", lambda: infer(c, frame()).as_numpy("output").shape)
    attempt("unknown model 'nope'", lambda: infer(c, frame(), model="nope"))
    attempt("model config of unknown model", lambda: c.get_model_config("nope"))
    attempt("4 channels [1,4,360,640]", lambda: infer(c, frame(c=4)))
    attempt("rank 3 [3,360,640]", lambda: infer(c, frame()[0]))
    attempt("FP64 data declared FP64", lambda: infer(c, frame(dtype=np.float64), dtype="FP64"))
    attempt("batch 9 > max_batch_size 8 (64x64)", lambda: infer(c, frame(64, 64, n=9)))
    attempt("H,W not multiple of size_multiple (361x641)", lambda: infer(c, frame(361, 641)).as_numpy("output").shape)
    attempt("wrong input name 'x'", lambda: c.infer(MODEL, [_named("x", frame())]))

    print("== 3. tritonserver SIGKILLed mid-stream, then restarted; one client object throughout")
    results: list[tuple[float, str]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def stream():
        cc = grpcclient.InferenceServerClient(url=url)
        x = frame(184, 320)
        while not stop.is_set():
            try:
                infer(cc, x, timeout=5.0)
                results.append((time.monotonic() - t0, "ok"))
            except InferenceServerException as e:
                results.append((time.monotonic() - t0, f"{e.status()}: {e.message()}"))
                time.sleep(0.2)
        cc.close()

    th = threading.Thread(target=stream)
    th.start()
    time.sleep(2.0)
    ts = find_tritonserver(srv.proc.pid)
    kill_t = time.monotonic() - t0
    os.kill(ts, signal.SIGKILL)
    print(f"   killed tritonserver pid {ts} at t={kill_t:.2f}s")
    srv.proc.wait(60)
    print(f"   serve.py noticed and exited with {srv.proc.returncode} at t={time.monotonic() - t0:.2f}s")
    srv.logf.close()
    time.sleep(1.0)
    restart_t = time.monotonic() - t0
    srv = Server(args, [], f"{args.logdir}/faults-serve-2.log").start()
    ready_t = time.monotonic() - t0
    print(f"   restarted serve.py at t={restart_t:.2f}s, READY at t={ready_t:.2f}s")
    time.sleep(3.0)
    stop.set()
    th.join()
    before = [r for r in results if r[0] < kill_t]
    errs = [r for r in results if r[1] != "ok"]
    after = [r for r in results if r[0] > ready_t and r[1] == "ok"]
    print(f"   {len(before)} ok before the kill; {len(errs)} errors; {len(after)} ok after READY")
    seen = {}
    for t, msg in errs:
        seen.setdefault(msg, []).append(t)
    for msg, ts_ in seen.items():
        print(f"     {len(ts_)}x [{ts_[0]:.2f}..{ts_[-1]:.2f}s] {msg[:300]}")
    first_err = min((t for t, m in results if m != "ok"), default=kill_t)
    first_ok = min((t for t, m in results if m == "ok" and t > first_err), default=None)
    print(f"   first success after the kill at t={first_ok}, i.e. {first_ok - ready_t if first_ok else float('nan'):.2f}s after READY")
    c.close()

    print("== 4. serve.py SIGKILLed (not tritonserver): does tritonserver outlive it?")
    ts = find_tritonserver(srv.proc.pid)
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    t_kill = time.monotonic()
    c = grpcclient.InferenceServerClient(url=url)
    attempt("is_server_live() right after", lambda: c.is_server_live())
    gone = None
    while time.monotonic() - t_kill < 45:
        try:
            state = [ln for ln in open(f"/proc/{ts}/status") if ln.startswith("State:")][0].split()[1]
        except OSError:
            state = "gone"
        if state in ("gone", "Z"):
            gone = time.monotonic() - t_kill
            break
        time.sleep(0.2)
    print(
        f"   tritonserver pid {ts} (pytriton starts it with PR_SET_PDEATHSIG=SIGTERM): "
        f"{'exited after %.1fs' % gone if gone is not None else 'STILL RUNNING after 45s'}"
    )
    if gone is None:
        os.kill(ts, signal.SIGKILL)
        print("   (killed it)")
    ws = sorted(pathlib.Path.home().glob(".cache/pytriton/workspace_*"))
    print(f"   leftover pytriton workspaces after the SIGKILL: {[str(w) for w in ws]}")
    srv.logf.close()
    c.close()

    print("== 5. slow model (--delay-ms 1500) vs client timeout 0.5s, and mixed H/W under load")
    srv = Server(args, ["--delay-ms", "1500", "--queue-delay-us", "100000"], f"{args.logdir}/faults-serve-3.log").start()
    c = grpcclient.InferenceServerClient(url=url)
    attempt("client_timeout=0.5", lambda: infer(c, frame(64, 64), timeout=0.5))
    attempt("client_timeout=5", lambda: infer(c, frame(64, 64), timeout=5.0).as_numpy("output").shape)
    time.sleep(2.0)
    s = c.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
    print(
        f"   server stats after: success={s['inference_stats'].get('success', {}).get('count')} "
        f"fail={s['inference_stats'].get('fail', {}).get('count', 0)} (the timed-out request still ran)"
    )
    before = c.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
    sizes = [(64, 64), (64, 96)]
    errs2: list[str] = []

    def burst(k):
        cc = grpcclient.InferenceServerClient(url=url)
        h, w = sizes[k % 2]
        for _ in range(3):
            try:
                infer(cc, frame(h, w), timeout=30.0)
            except InferenceServerException as e:
                errs2.append(e.message())
        cc.close()

    ths = [threading.Thread(target=burst, args=(k,)) for k in range(8)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    after = c.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
    inf = int(after["inference_count"]) - int(before["inference_count"])
    exe = int(after["execution_count"]) - int(before["execution_count"])
    bs = {
        int(b["batch_size"]): int(b["compute_infer"]["count"])
        for b in after.get("batch_stats", [])
    }
    bs0 = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in before.get("batch_stats", [])}
    print(
        f"   8 threads x 3 frames, half 64x64 half 64x96: inference_count {inf}, execution_count {exe}, "
        f"by batch size { {k: v - bs0.get(k, 0) for k, v in sorted(bs.items()) if v - bs0.get(k, 0)} }, errors {len(errs2)}"
    )
    c.close()
    srv.stop()
    log = pathlib.Path(f"{args.logdir}/faults-serve-3.log").read_text()
    for line in log.splitlines():
        if "inference calls" in line:
            print("   serve.py:", line.split("INFO ", 1)[1])
    return 0


def _named(name, x):
    i = grpcclient.InferInput(name, list(x.shape), "FP32")
    i.set_data_from_numpy(x)
    return i


if __name__ == "__main__":
    sys.exit(main())
