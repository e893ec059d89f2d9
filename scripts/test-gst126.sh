#!/usr/bin/env bash
# Builds and tests the `v1_26` feature (the standard GStreamer analytics metas,
# docs/analytics-metas.md) against a real GStreamer 1.26: Debian 13 (trixie) in a chroot made
# with debootstrap, with this machine's Rust toolchain and crate cache bind-mounted into it.
# Debian 12 has GStreamer 1.22, which the feature cannot build against.
#
#   scripts/test-gst126.sh            makes the root once (cached), then the tests and clippy
#   scripts/test-gst126.sh --prepare  only makes the root (e.g. for a CI cache)
#   scripts/test-gst126.sh --clean    removes the root
#
# Needs root (debootstrap, chroot, bind mounts), deb.debian.org and crates.io, the Rust toolchain
# in ~/.rustup and ~/.cargo, and the ONNX Runtime library from scripts/setup.sh.
# The root ($GST126_ROOT, default ~/.cache/gstautoencoder/trixie-root) takes about 840 MB and
# 70 s to make, its build folder 2.5 GB; the first build and test run about 4 minutes on 2
# cores, later ones 10-15 s. Not run by scripts/test.sh: see docs/analytics-metas.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${GST126_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/gstautoencoder/trixie-root}
MIRROR=${GST126_MIRROR:-http://deb.debian.org/debian}
READY="$ROOT/.gstautoencoder-ready"

say() { echo "test-gst126: $*"; }
die() { echo "test-gst126.sh: $*" >&2; exit 1; }

prepare_only=0
case "${1:-}" in
    --clean) say "removing $ROOT"; rm -rf --one-file-system "$ROOT" "$ROOT.debootstrap.log"; exit 0 ;;
    --prepare) prepare_only=1 ;;
    "") ;;
    *) die "unknown option '$1' (use --prepare, --clean, or nothing)" ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and bind mounts); run it with sudo"
[ -d "$HOME/.rustup" ] && [ -d "$HOME/.cargo" ] || die "no Rust toolchain in $HOME/.rustup and $HOME/.cargo"
ort=$(readlink -f /usr/local/lib/libonnxruntime.so.1 2>/dev/null) && [ -f "$ort" ] \
    || die "no ONNX Runtime library at /usr/local/lib/libonnxruntime.so.1: run scripts/setup.sh first"

mounts=()
unmount() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap unmount EXIT
bind() { # source target-in-root
    mkdir -p "$ROOT$2"
    mount --bind "$1" "$ROOT$2"
    mounts+=("$ROOT$2")
}

# 1. The Debian 13 root, once. debootstrap cannot resolve the virtual packages deep in
#    libgstreamer-plugins-bad1.0-0's dependencies (dbus-session-bus), so apt installs that one
#    inside the root. Its -dev package depends on OpenCV's (about 1.5 GB) for the opencv
#    headers we do not use: only its files (headers, .pc, .so links) are unpacked.
if [ ! -f "$READY" ]; then
    command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null; }
    rm -rf --one-file-system "$ROOT"
    mkdir -p "$ROOT"
    say "making a Debian 13 root in $ROOT from $MIRROR (a few minutes)"
    debootstrap --variant=minbase \
        --include=ca-certificates,pkg-config,gcc,libc6-dev,libgstreamer1.0-dev,libgstreamer-plugins-base1.0-dev \
        trixie "$ROOT" "$MIRROR" > "$ROOT.debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $ROOT.debootstrap.log and $ROOT/debootstrap/debootstrap.log"
fi
bind /proc /proc
bind /dev /dev
bind /dev/pts /dev/pts
if [ ! -f "$READY" ]; then
    chroot "$ROOT" /bin/sh -ec '
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends libgstreamer-plugins-bad1.0-0 gstreamer1.0-plugins-base >/dev/null
        cd /tmp && apt-get download -qq libgstreamer-plugins-bad1.0-dev
        dpkg-deb -x libgstreamer-plugins-bad1.0-dev_*.deb / && rm libgstreamer-plugins-bad1.0-dev_*.deb
        apt-get clean
        pkg-config --exists "gstreamer-analytics-1.0 >= 1.26"' >> "$ROOT.debootstrap.log" 2>&1 \
        || die "could not install GStreamer's analytics library in the root; see $ROOT.debootstrap.log"
    touch "$READY"
fi
say "GStreamer $(chroot "$ROOT" pkg-config --modversion gstreamer-1.0)," \
    "analytics $(chroot "$ROOT" pkg-config --modversion gstreamer-analytics-1.0) in $ROOT"
[ "$prepare_only" -eq 0 ] || exit 0

# 2. The host's toolchain, crates and this checkout, mounted into the root; the ONNX Runtime
#    library copied in. The build folder stays in the root: its system libraries differ.
install -D -m 0755 "$ort" "$ROOT/usr/local/lib/$(basename "$ort")"
bind "$HOME/.rustup" /root/.rustup
bind "$HOME/.cargo" /root/.cargo
bind "$PWD" /src

cargo fetch --locked --quiet    # the build in the root is offline
start=$(date +%s)
chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/root/.cargo/bin:/usr/bin:/bin \
    CARGO_TARGET_DIR=/target CARGO_NET_OFFLINE=true CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" \
    ORT_DYLIB_PATH="/usr/local/lib/$(basename "$ort")" /bin/sh -ec '
    cd /src
    cargo test --locked --features v1_26 --test analytics --test segmentation --test anomaly
    cargo clippy --locked --all-targets --features v1_26,fault-injection --quiet -- -D warnings
'
say "passed in $(( $(date +%s) - start )) s (root: $ROOT)"
