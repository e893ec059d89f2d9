#!/usr/bin/env bash
# Builds the plugin (release) and installs it where GStreamer finds it with no environment
# variable, with the ONNX Runtime library next to it:
#
#   scripts/install.sh                     ~/.local/share/gstreamer-1.0/plugins (per user)
#   scripts/install.sh --plugin-dir DIR    any folder, e.g. /usr/lib/x86_64-linux-gnu/gstreamer-1.0
#
# Run scripts/setup.sh first (it provides the ONNX Runtime library this copies).
set -euo pipefail
cd "$(dirname "$0")/.."

dest="${HOME}/.local/share/gstreamer-1.0/plugins"
while [ $# -gt 0 ]; do
    case "$1" in
        --plugin-dir) dest="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done

cargo build --release --locked --quiet
mkdir -p "$dest"
install -m 0755 target/release/libgstautoencoder.so "$dest/"

# The runtime the system loader would pick; copied under its versioned name, which
# GStreamer's plugin scanner ignores (it only looks at *.so).
runtime=$(ldconfig -p | awk '/libonnxruntime\.so\.1 /{print $NF; exit}')
if [ -n "$runtime" ]; then
    runtime=$(readlink -f "$runtime")
    rm -f "$dest"/libonnxruntime.so.*
    install -m 0755 "$runtime" "$dest/$(basename "$runtime")"
    echo "install: ONNX Runtime $(basename "$runtime") -> $dest"
else
    echo "install: warning: no ONNX Runtime library on this system; run scripts/setup.sh" >&2
fi
echo "install: plugin -> $dest/libgstautoencoder.so"
gst-inspect-1.0 onnxstyletransfer >/dev/null && echo "install: gst-inspect-1.0 onnxstyletransfer finds it"
