#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and its driver: fetches the GPU build of ONNX
# Runtime and NVIDIA's CUDA / cuDNN / TensorRT libraries from PyPI (scripts/setup.sh --gpu),
# builds, then runs every shipped model through each provider (cpu, cuda, tensorrt fp32 and
# fp16) at 640x360, 1280x720 and 1920x1080 through the element, and prints a table: first and
# cached start times, frames per second, and the output against the CPU's within the documented
# tolerance (examples/gpu_check.rs). Exits non-zero when an output is out of tolerance.
#
#     scripts/gpu-check.sh [--providers cpu,cuda] [--sizes 1920x1080] [--models style_mosaic] [--frames 100]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --gpu
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
else
    echo "gpu-check: nvidia-smi not found; the GPU providers will say why they cannot run" >&2
fi
cargo build --release --locked --example gpu_check
exec target/release/examples/gpu_check "$@"
