#!/usr/bin/env bash
# A CPU-only NVIDIA Triton Inference Server for the remote-inference tests and benchmarks
# (tests/remote.rs, triton/serve.py), from Debian's apt and PyPI only: PyPI's nvidia-pytriton
# bundles a real tritonserver (2.51.0) with its Python backend, which runs our ONNX models
# through onnxruntime (see triton/README.md).
#
#   scripts/triton.sh          makes the virtual environment if missing; prints its python
#
# The environment is ~/.cache/gstautoencoder/triton ($XDG_CACHE_HOME honoured, or
# GST_AUTOENCODER_TRITON_VENV). It must come from Debian's /usr/bin/python3 with Debian's
# libpython3.11: the backend's stub links that library and needs the same Python build.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${GST_AUTOENCODER_TRITON_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gstautoencoder/triton}
requirements=triton/requirements-server.txt

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
missing=()
for p in python3 python3-venv libpython3.11; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "triton.sh: installing ${missing[*]}" >&2
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
    echo "triton.sh: making $venv (nvidia-pytriton, onnxruntime; about 200 MB)" >&2
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
