#!/usr/bin/env bash
# Builds a Debian package of the plugin from a staged install (scripts/install.sh --prefix /usr
# with DESTDIR): the plugin in GStreamer's system plugin folder, the ONNX Runtime library it
# ships in a private folder beside it (Debian has no onnxruntime package), the models in
# /usr/share/gstautoencoder/models and the README in /usr/share/doc/gst-plugin-autoencoder.
# Dependencies come from dpkg-shlibdeps (GStreamer, GLib, libc, libstdc++ for ONNX Runtime).
#
#   scripts/package-deb.sh [--out DIR]           builds DIR/gst-plugin-autoencoder_<version>_<arch>.deb
#                                                (DIR: target/debian, under
#                                                $CARGO_TARGET_DIR if set)
#   scripts/package-deb.sh --check [--out DIR]   builds it, then installs it with dpkg, checks
#                                                that GStreamer finds the elements in the system
#                                                folder with no environment variable and that a
#                                                pipeline runs a model named by its bare name,
#                                                then purges it and checks nothing is left.
#                                                Needs root (or sudo); refuses if the package
#                                                is already installed.
#   --no-build   package target/release/libgstautoencoder.so (under $CARGO_TARGET_DIR if set)
#                as it is
set -euo pipefail
cd "$(dirname "$0")/.."

package=gst-plugin-autoencoder
out="${CARGO_TARGET_DIR:-target}/debian" check=0 build_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="${2%/}"; shift 2 ;;
        --check) check=1; shift ;;
        --no-build) build_args+=(--no-build); shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0 ;;
        *) echo "package-deb.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
say() { echo "package-deb: $*"; }
fail() { echo "package-deb.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps dpkg-architecture; do
    command -v "$tool" >/dev/null || fail "$tool is missing: apt-get install dpkg-dev (scripts/setup.sh does)"
done

version=$(awk -F'"' '/^version *=/{print $2; exit}' Cargo.toml)
deb_version="$version-1"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch
plugin_dir=$libdir/gstreamer-1.0
runtime_dir=$libdir/gstautoencoder
deb="$out/${package}_${deb_version}_${arch}.deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/stage"

# 1. The files, where the package puts them.
DESTDIR="$stage" scripts/install.sh --prefix /usr --libdir "$libdir" "${build_args[@]}" |
    sed 's/^/package-deb: /'
# Stripped as Debian's dh_strip does (9 MB -> 7.5 MB).
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage$plugin_dir/libgstautoencoder.so"
runtime=$(ls "$stage$runtime_dir"/libonnxruntime.so.* 2>/dev/null | head -1)
[ -n "$runtime" ] || fail "no ONNX Runtime library was staged: run scripts/setup.sh first"
ort_version=${runtime##*/libonnxruntime.so.}

# Who built the package: Debian's DEBFULLNAME/DEBEMAIL (as dch reads them), else git's user,
# else this machine's user and host: a package built from the source tree is its builder's.
maintainer_name=${DEBFULLNAME:-$(git config user.name 2>/dev/null || id -un)}
maintainer_email=${DEBEMAIL:-$(git config user.email 2>/dev/null || echo "$(id -un)@$(hostname -f 2>/dev/null || hostname)")}
maintainer="$maintainer_name <$maintainer_email>"

# 2. Debian's required documentation: copyright (the licences) and a changelog.
doc="$stage/usr/share/doc/$package"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $package

Files: *
Copyright: the $package authors
License: MIT or Apache-2.0
 On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.
 .
 Permission is hereby granted, free of charge, to any person obtaining a copy of this
 software and associated documentation files (the "Software"), to deal in the Software
 without restriction, including without limitation the rights to use, copy, modify, merge,
 publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
 to whom the Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.

Files: $runtime_dir/libonnxruntime.so.*
Copyright: Microsoft Corporation
License: MIT
 ONNX Runtime $ort_version, from the onnxruntime wheel on PyPI (https://pypi.org/project/onnxruntime/).
EOF
printf '%s (%s) unstable; urgency=medium\n\n  * Built from the source tree by scripts/package-deb.sh.\n\n -- %s  %s\n' \
    "$package" "$deb_version" "$maintainer" "$(date -R)" | gzip -9n >"$doc/changelog.Debian.gz"

# 3. The control file; the shared-library dependencies of the plugin and of the runtime.
mkdir -p "$work/src/debian" "$stage/DEBIAN"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$package" "$package" >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O -e"$stage$plugin_dir/libgstautoencoder.so" \
    -e"$runtime" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || fail "dpkg-shlibdeps found no dependencies"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: $package
Version: $deb_version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Recommends: gstreamer1.0-plugins-base, gstreamer1.0-plugins-good, gstreamer1.0-tools
Section: video
Priority: optional
Description: GStreamer elements running ONNX autoencoders (ONNX Runtime $ort_version included)
 onnxstyletransfer, onnxsegmentation, onnxanomaly, onnxmap and onnxsuperresolution
 run ONNX models on every video frame through ONNX Runtime. Debian has no
 onnxruntime package: this one ships ONNX Runtime $ort_version in
 $runtime_dir, where only the plugin loads it.
 The project's models are in /usr/share/gstautoencoder/models: name one by its
 bare name, e.g. onnxsegmentation model-file=segmentation_unet.
EOF
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
say "built $deb ($(du -h "$deb" | cut -f1)): Depends: $depends"

[ "$check" -eq 1 ] || exit 0

# --- The check: install, use, purge -------------------------------------------------------
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "--check installs the package: run as root or with sudo"
    SUDO=(sudo)
fi
if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "installed"; then
    fail "$package is already installed; remove it first (dpkg -P $package)"
fi
files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's#^\./#/#' | grep -v '/$')
for f in $files; do
    [ ! -e "$f" ] || fail "$f exists before the package is installed: it is not the package's to check"
done
"${SUDO[@]}" dpkg -i "$deb" >/dev/null
purged=0
cleanup() {
    [ "$purged" -eq 1 ] || "${SUDO[@]}" dpkg -P "$package" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
say "installed with dpkg -i"

# GStreamer as a user with nothing set would see it: its default plugin folders, but no
# per-user plugin folder (XDG_DATA_HOME is empty), a fresh registry, no variable of ours.
home="$work/home"
mkdir -p "$home/data" "$home/cwd"
clean_env=(env -u GST_PLUGIN_PATH -u GST_PLUGIN_PATH_1_0 -u GST_PLUGIN_SYSTEM_PATH
    -u GST_PLUGIN_SYSTEM_PATH_1_0 -u ORT_DYLIB_PATH -u GST_AUTOENCODER_MODEL_PATH
    XDG_DATA_HOME="$home/data" GST_REGISTRY="$home/registry.bin")
inspect=$("${clean_env[@]}" gst-inspect-1.0 onnxstyletransfer) || fail "gst-inspect-1.0 onnxstyletransfer does not find the element"
filename=$(awk '/^  Filename/{print $2}' <<<"$inspect")
# GStreamer names its folder from where libgstreamer was loaded: /lib/... on a merged /usr.
[ "$(readlink -f "$filename")" = "$(readlink -f "$plugin_dir/libgstautoencoder.so")" ] ||
    fail "gst-inspect-1.0 found the element in '$filename', not in $plugin_dir"
origin=$(awk '/^  Origin URL/{print $3}' <<<"$inspect")
[ "$origin" = "file:///usr/share/doc/$package/README.md" ] && [ -f "${origin#file://}" ] ||
    fail "the plugin's Origin URL is '$origin', not the installed README"
say "gst-inspect-1.0 onnxstyletransfer: $filename, Origin URL $origin"

# A real pipeline, from an unrelated folder, with a bare model name and no variable.
log=$(cd "$home/cwd" && "${clean_env[@]}" gst-launch-1.0 -m videotestsrc num-buffers=3 ! \
    video/x-raw,width=64,height=48 ! videoconvert ! videoscale ! \
    onnxsegmentation model-file=segmentation_unet ! videoconvert ! fakesink 2>&1) ||
    { echo "$log" >&2; fail "the pipeline with model-file=segmentation_unet failed"; }
grep -q "model-file=(string)/usr/share/gstautoencoder/models/segmentation_unet.onnx" <<<"$log" ||
    { echo "$log" >&2; fail "the bare name did not resolve to the installed model"; }
grep -q "runtime-library=(string)$runtime_dir/libonnxruntime.so.$ort_version" <<<"$log" ||
    { echo "$log" >&2; fail "ONNX Runtime was not loaded from the package's $runtime_dir"; }
say "onnxsegmentation model-file=segmentation_unet ran: the installed model, ONNX Runtime from $runtime_dir"

"${SUDO[@]}" dpkg -r "$package" >/dev/null
# With no conffiles dpkg forgets the package at removal; purge whatever it still knows.
if dpkg-query -W "$package" >/dev/null 2>&1; then
    "${SUDO[@]}" dpkg -P "$package" >/dev/null
fi
purged=1
for f in $files; do
    [ ! -e "$f" ] || fail "$f is left after dpkg -P"
done
for d in "$runtime_dir" /usr/share/gstautoencoder "/usr/share/doc/$package"; do
    [ ! -e "$d" ] || fail "$d is left after dpkg -P"
done
! dpkg-query -W "$package" >/dev/null 2>&1 || fail "dpkg still knows $package after dpkg -r / -P"
say "dpkg -r / -P removed every file ($(wc -w <<<"$files") files)"
