#!/usr/bin/env bash
# Set up a CPU-only NVIDIA Triton Inference Server for triton/serve.py on a
# fresh Debian 12 (bookworm) x86_64 machine, from Debian's apt and PyPI only.
#
#   bash triton/setup.sh [VENV]        # default VENV: /work/venv-triton
#
# Needs root for apt.  Idempotent.
set -euo pipefail
VENV=${1:-/work/venv-triton}
HERE=$(cd "$(dirname "$0")" && pwd)

# Debian's python3 (3.11.2) and, crucially, its shared libpython3.11: the
# Triton Python-backend stub bundled in nvidia-pytriton links
# libpython3.11.so.1.0 and must get the same build as the venv's interpreter
# (see README "gotchas").  protobuf-compiler is only for the proto check.
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv libpython3.11 protobuf-compiler ca-certificates

if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md, sys
print("python", sys.version.split()[0], {p: md.version(p) for p in ("nvidia-pytriton", "onnxruntime", "tritonclient", "numpy")})
EOF
