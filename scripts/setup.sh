#!/usr/bin/env bash
# Installs what the plugin needs on Debian 12: the GStreamer packages and the ONNX Runtime
# library, which Debian does not package and which we take from the PyPI wheel for this
# machine's architecture (x86_64 or aarch64; others are refused with what to do instead).
#
#   scripts/setup.sh            CPU: onnxruntime (PyPI) -> /usr/local/lib/libonnxruntime.so*
#   scripts/setup.sh --gpu      CUDA/TensorRT: onnxruntime-gpu and NVIDIA's CUDA 13 runtime wheels
#   scripts/setup.sh --dry-run [--arch aarch64] [--gpu]
#                               fetches the onnxruntime wheel for that architecture (default:
#                               uname -m) and checks its library's ELF machine; installs nothing
#
# The library lands on the system library path, where the elements find it with no
# environment variable. Idempotent: it only installs what is missing. Uses sudo when not root.
# The CPU wheels are kept in $WHEEL_CACHE (default ~/.cache/gstautoencoder/wheels).
set -euo pipefail

ORT_VERSION=1.32.0          # CPU wheel
ORT_GPU_VERSION=1.31.1      # GPU wheel (CUDA 13); also runs on CPU
LIBDIR=${ORT_LIBDIR:-/usr/local/lib}
GPU_DIR=/opt/gstautoencoder/cuda
WHEEL_CACHE=${WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gstautoencoder/wheels}
APT_PACKAGES=(
    pkg-config dpkg-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    python3 python3-pip python3-venv
    gcc python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
)

gpu=0
dry_run=0
arch=$(uname -m)
arch_from="uname -m"
while [ $# -gt 0 ]; do
    case "$1" in
        --gpu) gpu=1 ;;
        --dry-run) dry_run=1 ;;
        --arch)
            [ $# -ge 2 ] || { echo "setup.sh: --arch needs a value (x86_64 or aarch64)" >&2; exit 2; }
            arch=$2; arch_from="--arch"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option '$1' (use --gpu, --dry-run, --arch or --help)" >&2; exit 2 ;;
    esac
    shift
done

# The architectures PyPI has onnxruntime wheels for: the wheels' platform tags, and the ELF
# machine (as `readelf -h` names it) of the library inside. Debian 12's glibc (2.36) runs them all.
case "$arch" in
    x86_64|amd64)
        arch=x86_64
        PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64)
        ELF_MACHINE="Advanced Micro Devices X86-64" ;;
    aarch64|arm64)
        arch=aarch64
        # onnxruntime-gpu's aarch64 wheel is manylinux_2_34, with the CUDA provider but not TensorRT's.
        PLATFORMS=(manylinux_2_34_aarch64 manylinux_2_28_aarch64 manylinux_2_27_aarch64
                   manylinux_2_17_aarch64 manylinux2014_aarch64)
        ELF_MACHINE="AArch64" ;;
    *)
        cat >&2 <<EOF
setup.sh: unsupported architecture '$arch' (from $arch_from).
  Supported: x86_64 and aarch64, the architectures PyPI has ONNX Runtime wheels for
  (onnxruntime $ORT_VERSION, onnxruntime-gpu $ORT_GPU_VERSION).
  What to do: build ONNX Runtime $ORT_VERSION for this machine from source
  (https://onnxruntime.ai/docs/build/inferencing.html, with --build_shared_lib), then either copy
  libonnxruntime.so.$ORT_VERSION into $LIBDIR and run ldconfig, or set ORT_DYLIB_PATH to its
  absolute path. The GStreamer part is plain apt: see APT_PACKAGES at the top of this script.
EOF
        exit 1 ;;
esac
if [ "$dry_run" -eq 0 ] && [ "$arch" != "$(uname -m)" ]; then
    echo "setup.sh: --arch $arch differs from this machine's $(uname -m): use it with --dry-run only" >&2
    exit 2
fi

say() { echo "setup: $*"; }

# Fetches one wheel for CPython 3.11 on this architecture's manylinux platforms (whatever the
# local Python is); a wheel already in destdir is not fetched again.
fetch_wheel() { # name==version destdir
    local platforms=()
    for p in "${PLATFORMS[@]}"; do platforms+=(--platform "$p"); done
    python3 -m pip download -q --no-deps --only-binary=:all: --disable-pip-version-check \
        "${platforms[@]}" --python-version 3.11 --implementation cp -d "$2" "$1"
}

# The path of the wheel fetch_wheel left in a folder for a package, version and this architecture.
wheel_path() { # package version dir
    local found=("$3/${1//-/_}-$2-"*"_$arch.whl")
    [ -f "${found[0]}" ] || { echo "setup.sh: no $1 $2 wheel for $arch in $3" >&2; return 1; }
    echo "${found[0]}"
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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --dry-run: the wheel this architecture gets, and the machine its library was built for.
if [ "$dry_run" -eq 1 ]; then
    command -v readelf >/dev/null || { echo "setup.sh: --dry-run needs readelf (apt-get install binutils)" >&2; exit 1; }
    if [ "$gpu" -eq 0 ]; then
        package=onnxruntime version=$ORT_VERSION dir=$WHEEL_CACHE
    else
        package=onnxruntime-gpu version=$ORT_GPU_VERSION dir=$tmp    # 200+ MB: not kept
    fi
    mkdir -p "$dir"
    say "dry run for $arch: fetching $package==$version (platforms ${PLATFORMS[*]})"
    fetch_wheel "$package==$version" "$dir"
    wheel=$(wheel_path "$package" "$version" "$dir")
    extract "$wheel" "onnxruntime/capi/libonnxruntime\.so\.[0-9.]+$" "$tmp" >/dev/null
    lib="$tmp/libonnxruntime.so.$version"
    machine=$(readelf -h "$lib" | sed -n 's/^ *Machine: *//p')
    if [ "$machine" != "$ELF_MACHINE" ]; then
        echo "setup.sh: $(basename "$wheel") holds a library for '$machine', not '$ELF_MACHINE' ($arch)" >&2
        exit 1
    fi
    providers=$(python3 -c 'import re, sys, zipfile
print(" ".join(sorted(m.group(1) for n in zipfile.ZipFile(sys.argv[1]).namelist()
                      if (m := re.search(r"libonnxruntime_providers_(\w+)\.so$", n)))) or "none")' "$wheel")
    say "dry run: $(basename "$wheel") holds $(basename "$lib") built for $machine, right for $arch" \
        "(provider libraries: $providers); nothing installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: not root and no sudo" >&2; exit 1; }
    SUDO=(sudo)
fi

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

# Points libonnxruntime.so.1 and libonnxruntime.so at one versioned library.
link_runtime() { # versioned-path
    "${SUDO[@]}" ln -sf "$1" "$LIBDIR/libonnxruntime.so.1"
    "${SUDO[@]}" ln -sf "$1" "$LIBDIR/libonnxruntime.so"
    "${SUDO[@]}" ldconfig
}

if [ "$gpu" -eq 0 ]; then
    # 2. The CPU runtime.
    lib="$LIBDIR/libonnxruntime.so.$ORT_VERSION"
    if [ -f "$lib" ]; then
        say "ONNX Runtime $ORT_VERSION present at $lib"
    else
        say "fetching onnxruntime==$ORT_VERSION for $arch from PyPI"
        mkdir -p "$WHEEL_CACHE"
        fetch_wheel "onnxruntime==$ORT_VERSION" "$WHEEL_CACHE"
        wheel=$(wheel_path onnxruntime "$ORT_VERSION" "$WHEEL_CACHE")
        extract "$wheel" "onnxruntime/capi/libonnxruntime\.so\.[0-9.]+$" "$tmp"
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
        cuda_wheels=("nvidia-cuda-runtime==13.*" "nvidia-cublas==13.*" "nvidia-curand==10.*"
                     "nvidia-cufft==12.*" "nvidia-cudnn-cu13==9.*")
        if [ "$arch" = x86_64 ]; then
            cuda_wheels+=("tensorrt-cu13-libs==10.*")
        else
            say "note: the aarch64 onnxruntime-gpu wheel has no TensorRT provider: execution-provider=cuda works, tensorrt does not"
        fi
        for w in "${cuda_wheels[@]}"; do
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
