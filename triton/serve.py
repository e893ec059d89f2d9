#!/usr/bin/env python3
"""Serve the shipped ONNX models through a real NVIDIA Triton Inference Server.

Triton comes from PyPI's ``nvidia-pytriton`` wheel, which bundles the
``tritonserver`` binary and its Python backend (no ONNX Runtime backend).
Each model is therefore served by a Python inference function that runs
ONNX Runtime (CPU) on the batch Triton's dynamic batcher hands it.

    python triton/serve.py models/style_mosaic_rt.onnx \
        models/segmentation_unet.onnx anomaly=models/anomaly_brick.onnx

A model is named by its file stem unless given as NAME=PATH.  The server
listens on 127.0.0.1 only (gRPC --grpc-port, HTTP --http-port, metrics
--metrics-port), prints ``READY grpc=127.0.0.1:PORT ...`` on stdout once every
model is loaded, and shuts down cleanly on SIGTERM or SIGINT.

The ONNX model's metadata_props (kind, input_range, size_multiple, ...) are
put in the Triton model config's ``parameters`` map, so a client reads them
with the ModelConfig RPC (inference.GRPCInferenceService/ModelConfig) or
GET /v2/models/NAME/config.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

LOG = logging.getLogger("triton-serve")

# Keys pytriton puts in the model config's parameters itself; ONNX metadata
# with these keys is not copied (it would break the Python backend proxy).
_RESERVED_PARAMS = {"workspace-path", "trace-config", "shm-region-prefix-name", "EXECUTION_ENV_PATH"}
# Extra parameters every served model carries.
_SERVE_PARAMS_PREFIX = "serve."

# model name -> {key: value} added to the generated Triton model config.
_EXTRA_PARAMETERS: dict[str, dict[str, str]] = {}


def _install_parameters_hook() -> None:
    """Make pytriton write our per-model ``parameters`` into config.pbtxt.

    pytriton's public ModelConfig has no field for Triton model-config
    ``parameters``; it fills them itself (``backend_parameters``, which
    holds ``workspace-path``).  We wrap the private method that builds the
    TritonModelConfig and add ours next to pytriton's own.  Checked against
    nvidia-pytriton 0.7.0.
    """
    from pytriton.models import model as _model

    orig = _model.Model._get_triton_model_config
    if getattr(orig, "_onnx_params_hook", False):
        return

    def patched(self):
        cfg = orig(self)
        for key, value in _EXTRA_PARAMETERS.get(self.model_name, {}).items():
            if key not in _RESERVED_PARAMS:
                cfg.backend_parameters.setdefault(key, value)
        return cfg

    patched._onnx_params_hook = True  # type: ignore[attr-defined]
    _model.Model._get_triton_model_config = patched


def _np_dtype(elem_type: int) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def _dims(value_info) -> list[int]:
    """ONNX declared shape as ints, -1 for symbolic/unknown dims."""
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1)
    return out


@dataclass
class OnnxModel:
    name: str
    path: pathlib.Path
    threads: int
    delay_ms: float = 0.0
    cpu_arena: bool = True
    # (height, width) the served input is declared with, whatever the ONNX file says
    # (a deployment pinned to one size, as a TensorRT engine can be): Triton refuses others.
    input_size: tuple[int, int] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    inputs: list = field(default_factory=list)  # (name, np dtype, dims with batch)
    outputs: list = field(default_factory=list)
    batch_mode: str = "native"  # "native": one ORT run per batch; "loop": one run per frame
    session: ort.InferenceSession | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # batching statistics seen by the inference function
    calls: int = 0
    frames: int = 0
    max_requests_per_call: int = 0
    mixed_shape_calls: int = 0

    def load(self) -> None:
        proto = onnx.load(str(self.path))
        self.metadata = {p.key: p.value for p in proto.metadata_props}
        self.inputs = [(v.name, _np_dtype(v.type.tensor_type.elem_type), _dims(v)) for v in proto.graph.input]
        if self.input_size:
            self.inputs = [(n, dt, dims[:-2] + list(self.input_size)) for n, dt, dims in self.inputs]
        self.outputs = [(v.name, _np_dtype(v.type.tensor_type.elem_type), _dims(v)) for v in proto.graph.output]
        # Several shipped models declare the batch dim as a fixed 1.  Make it
        # symbolic in memory (the file is not touched) and check that ORT can
        # run batch 2 with results equal to two batch-1 runs; otherwise fall
        # back to one ORT run per frame.
        fixed_one = any(d and d[0] == 1 for _, _, d in self.inputs)
        if fixed_one:
            for v in list(proto.graph.input) + list(proto.graph.output):
                dims = v.type.tensor_type.shape.dim
                if len(dims) > 0:
                    dims[0].Clear()
                    dims[0].dim_param = "batch"
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.enable_cpu_mem_arena = self.cpu_arena
        self.session = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
        if fixed_one:
            self.batch_mode = "native" if self._batch_works() else "loop"
            if self.batch_mode == "loop":
                so2 = ort.SessionOptions()
                so2.intra_op_num_threads = self.threads
                so2.inter_op_num_threads = 1
                so2.log_severity_level = 3
                so2.enable_cpu_mem_arena = self.cpu_arena
                self.session = ort.InferenceSession(str(self.path), so2, providers=["CPUExecutionProvider"])

    def _probe_input(self, n: int) -> dict[str, np.ndarray]:
        mult = int(self.metadata.get("size_multiple", "8") or 8)
        feed = {}
        rng = np.random.default_rng(0)
        for name, dt, dims in self.inputs:
            shape = [n] + [d if d > 0 else mult * 4 for d in dims[1:]]
            feed[name] = rng.random(shape).astype(dt)
        return feed

    def _batch_works(self) -> bool:
        try:
            feed = self._probe_input(2)
            both = self.session.run(None, feed)
            for i in range(2):
                one = self.session.run(None, {k: v[i : i + 1] for k, v in feed.items()})
                for a, b in zip(both, one):
                    if a.shape[0] != 2 or not np.allclose(a[i : i + 1], b, atol=1e-4):
                        return False
            return True
        except Exception as exc:  # noqa: BLE001
            LOG.warning("%s: batch >1 does not run (%s); one ORT run per frame", self.name, exc)
            return False

    def triton_tensors(self, which) -> list[Tensor]:
        # pytriton adds the batch dimension itself when batching is on.  Triton
        # refuses empty dims ("must specify 'dims'"), so a per-frame scalar
        # output ([batch] in ONNX, e.g. anomalib's pred_score) is served as
        # [batch, 1].
        return [Tensor(name=n, dtype=dt, shape=tuple(dims[1:]) or (1,)) for n, dt, dims in which]

    def parameters(self) -> dict[str, str]:
        params = dict(self.metadata)
        params[_SERVE_PARAMS_PREFIX + "onnx_file"] = self.path.name
        params[_SERVE_PARAMS_PREFIX + "batch_mode"] = self.batch_mode
        params[_SERVE_PARAMS_PREFIX + "runtime"] = f"onnxruntime {ort.__version__} CPU"
        return params

    def _run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.batch_mode == "native":
            return self.session.run(None, feed)
        n = next(iter(feed.values())).shape[0]
        parts = [self.session.run(None, {k: v[i : i + 1] for k, v in feed.items()}) for i in range(n)]
        return [np.concatenate([p[j] for p in parts]) for j in range(len(self.outputs))]

    def infer(self, requests):
        """pytriton inference callable: a list of requests in, a list of dicts out.

        Triton's dynamic batcher only puts requests whose inputs have the
        same shape in one batch; grouping by shape here is a second guard.
        """
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000.0)
        in_names = [n for n, _, _ in self.inputs]
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            key = tuple(req[n].shape[1:] for n in in_names)
            groups.setdefault(key, []).append(i)
        results: list[dict | None] = [None] * len(requests)
        for idxs in groups.values():
            feed = {n: np.concatenate([requests[i][n] for i in idxs]) for n in in_names}
            outs = self._run(feed)
            start = 0
            for i in idxs:
                b = requests[i][in_names[0]].shape[0]
                results[i] = {
                    name: (o[start : start + b] if o.ndim > 1 else o[start : start + b, None])
                    for (name, _, _), o in zip(self.outputs, outs)
                }
                start += b
        with self.lock:
            self.calls += 1
            self.frames += sum(requests[i][in_names[0]].shape[0] for i in range(len(requests)))
            self.max_requests_per_call = max(self.max_requests_per_call, len(requests))
            if len(groups) > 1:
                self.mixed_shape_calls += 1
        return results


def parse_model_arg(arg: str) -> tuple[str, pathlib.Path]:
    if "=" in arg:
        name, path = arg.split("=", 1)
    else:
        path = arg
        name = pathlib.Path(arg).stem
    return name, pathlib.Path(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="PATH.onnx or NAME=PATH.onnx")
    ap.add_argument("--grpc-port", type=int, default=8001)
    ap.add_argument("--http-port", type=int, default=8000)
    ap.add_argument("--metrics-port", type=int, default=8002)
    ap.add_argument("--address", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    ap.add_argument("--max-batch", type=int, default=8, help="Triton max_batch_size (0 turns batching off)")
    ap.add_argument("--queue-delay-us", type=int, default=4000, help="dynamic batcher max_queue_delay_microseconds")
    ap.add_argument("--preferred-batch", type=int, nargs="*", default=None, help="dynamic batcher preferred_batch_size")
    ap.add_argument("--intra-op-threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    ap.add_argument("--instances", type=int, default=1, help="model instances (ORT sessions) per model")
    ap.add_argument(
        "--no-cpu-arena",
        action="store_true",
        help="ORT enable_cpu_mem_arena=False: less RSS after large batches, a little slower",
    )
    ap.add_argument("--delay-ms", type=float, default=0.0, help="sleep this long per batch (fault tests: slow model)")
    ap.add_argument(
        "--input-size",
        default=None,
        help="HxW: declare every model's image input with this fixed size (Triton refuses other shapes)",
    )
    ap.add_argument(
        "--restrict",
        default="shared-memory,model-repository,trace,logging",
        help="Triton endpoints that need pytriton's random access token (pytriton 0.7 restricts statistics too "
        "by default; we leave statistics open so clients can read ModelStatistics). '' restricts none",
    )
    ap.add_argument("--log-verbose", type=int, default=0, help="tritonserver --log-verbose")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)

    t0 = time.monotonic()
    _install_parameters_hook()
    config = TritonConfig(
        http_address=args.address,
        http_port=args.http_port,
        grpc_address=args.address,
        grpc_port=args.grpc_port,
        metrics_address=args.address,
        metrics_port=args.metrics_port,
        allow_gpu_metrics=False,
        log_verbose=args.log_verbose,
        exit_on_error=True,
    )
    restricted = [e for e in args.restrict.split(",") if e]
    # pytriton itself loads the models through the model-repository endpoint
    # with its token, so restricting it is harmless and keeps clients from
    # unloading models.
    triton = Triton(config=config, security_config=TritonSecurityConfig(restricted_endpoints=restricted))
    served: list[OnnxModel] = []
    for spec in args.models:
        name, path = parse_model_arg(spec)
        instances = []
        for _ in range(args.instances):
            m = OnnxModel(
                name=name,
                path=path,
                threads=args.intra_op_threads,
                delay_ms=args.delay_ms,
                cpu_arena=not args.no_cpu_arena,
                input_size=tuple(int(v) for v in args.input_size.split("x")) if args.input_size else None,
            )
            m.load()
            instances.append(m)
        m = instances[0]
        _EXTRA_PARAMETERS[name] = m.parameters()
        batching = args.max_batch > 0
        mc = ModelConfig(
            batching=batching,
            max_batch_size=max(args.max_batch, 1),
            batcher=DynamicBatcher(
                max_queue_delay_microseconds=args.queue_delay_us, preferred_batch_size=args.preferred_batch
            ),
        )
        if batching:
            ins, outs = m.triton_tensors(m.inputs), m.triton_tensors(m.outputs)
        else:
            ins = [Tensor(name=n, dtype=dt, shape=tuple(d)) for n, dt, d in m.inputs]
            outs = [Tensor(name=n, dtype=dt, shape=tuple(d)) for n, dt, d in m.outputs]
        triton.bind(
            model_name=name,
            infer_func=[i.infer for i in instances] if len(instances) > 1 else m.infer,
            inputs=ins,
            outputs=outs,
            config=mc,
            strict=True,
        )
        served.append(m)
        LOG.info(
            "model %s <- %s: inputs %s outputs %s batch_mode=%s",
            name,
            path,
            [(n, str(dt), d) for n, dt, d in m.inputs],
            [(n, str(dt), d) for n, dt, d in m.outputs],
            m.batch_mode,
        )

    stop = threading.Event()

    def on_signal(signum, _frame):
        LOG.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    triton.run()  # starts tritonserver, loads the models, returns when they are ready
    print(
        f"READY grpc={args.address}:{args.grpc_port} http={args.address}:{args.http_port} "
        f"metrics={args.address}:{args.metrics_port} models={','.join(m.name for m in served)} "
        f"pid={os.getpid()} start_s={time.monotonic() - t0:.1f}",
        flush=True,
    )
    while not stop.wait(1.0):
        if not triton.is_alive():
            LOG.error("tritonserver is no longer alive")
            break
    for m in served:
        LOG.info(
            "model %s: %d inference calls, %d frames, max %d requests/call, %d calls with mixed shapes",
            m.name,
            m.calls,
            m.frames,
            m.max_requests_per_call,
            m.mixed_shape_calls,
        )
    triton.stop()
    print("STOPPED", flush=True)
    return 0 if stop.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
