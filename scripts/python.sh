#!/usr/bin/env bash
# Prints the path of a Python that has numpy, onnx and onnxruntime (the model zoo and the
# models/ tests need them): python3 itself when it has them; else (a fresh Debian, whose Python
# is externally managed) a virtual environment of its own in the cache, made once with pinned
# versions (needs python3-venv, which scripts/setup.sh installs). Progress goes to stderr.
set -euo pipefail

if python3 -c "import numpy, onnx, onnxruntime" 2>/dev/null; then
    command -v python3
    exit 0
fi
venv="${XDG_CACHE_HOME:-$HOME/.cache}/gstautoencoder/python"
if ! "$venv/bin/python" -c "import numpy, onnx, onnxruntime" 2>/dev/null; then
    echo "python.sh: python3 lacks numpy, onnx or onnxruntime; installing them into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 >&2
fi
echo "$venv/bin/python"
