#!/usr/bin/env bash
# Builds the plugin (release) and installs it where GStreamer finds it with no environment
# variable, with the ONNX Runtime library, the models and the README:
#
#   scripts/install.sh                   per user (the default), under ~/.local:
#       plugin + ONNX Runtime   ~/.local/share/gstreamer-1.0/plugins/
#       models                  ~/.local/share/gstautoencoder/models/
#       README                  ~/.local/share/doc/gst-plugin-autoencoder/
#   scripts/install.sh --prefix /usr     system-wide, as the Debian package lays it out:
#       plugin                  /usr/lib/<multiarch>/gstreamer-1.0/libgstautoencoder.so
#       ONNX Runtime            /usr/lib/<multiarch>/gstautoencoder/libonnxruntime.so.<version>
#       models                  /usr/share/gstautoencoder/models/
#       README                  /usr/share/doc/gst-plugin-autoencoder/
#   --libdir DIR       the library folder for --prefix (default PREFIX/lib/<multiarch>)
#   --plugin-dir DIR   the plugin (and the ONNX Runtime next to it) in DIR instead
#   --no-build         install target/release/libgstautoencoder.so (under $CARGO_TARGET_DIR if
#                      set) as it is
#   DESTDIR=/stage scripts/install.sh --prefix /usr
#                      a staged install (packaging): every file lands under $DESTDIR; the
#                      plugin still finds its library and models relative to itself.
#
# Ends by loading the installed copy itself with gst-inspect-1.0 (isolated from any other
# copy) and checking its elements are there. Run scripts/setup.sh first: it provides the ONNX
# Runtime library this copies.
set -euo pipefail
cd "$(dirname "$0")/.."

package=gst-plugin-autoencoder
prefix="" libdir="" plugin_dir="" build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2%/}"; shift 2 ;;
        --libdir) libdir="${2%/}"; shift 2 ;;
        --plugin-dir) plugin_dir="${2%/}"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
destdir="${DESTDIR:-}"
destdir="${destdir%/}"

if [ -z "$prefix" ]; then
    # Per user: GStreamer's per-user plugin folder, the runtime next to the plugin.
    [ -n "$libdir" ] && { echo "install.sh: --libdir needs --prefix" >&2; exit 2; }
    prefix="${HOME}/.local"
    plugin_dir="${plugin_dir:-$prefix/share/gstreamer-1.0/plugins}"
    runtime_dir="$plugin_dir"
else
    case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute: '$prefix'" >&2; exit 2 ;; esac
    if [ -z "$libdir" ]; then
        multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
        libdir="$prefix/lib${multiarch:+/$multiarch}"
    fi
    if [ -z "$plugin_dir" ]; then
        plugin_dir="$libdir/gstreamer-1.0"
        # The plugin's private library folder, beside its plugin folder
        # (src/inference/runtime.rs, PRIVATE_LIBRARY_DIR).
        runtime_dir="$libdir/gstautoencoder"
    else
        runtime_dir="$plugin_dir"
    fi
fi
models_dir="$prefix/share/gstautoencoder/models"
doc_dir="$prefix/share/doc/$package"

if [ "$build" -eq 1 ]; then
    # The prefix decides where the plugin's origin (its README) is (build.rs).
    GST_AUTOENCODER_PREFIX="$prefix" cargo build --release --locked --quiet
fi
plugin="${CARGO_TARGET_DIR:-target}/release/libgstautoencoder.so"
[ -f "$plugin" ] || { echo "install.sh: $plugin is missing; run without --no-build" >&2; exit 1; }

install -d "$destdir$plugin_dir" "$destdir$runtime_dir" "$destdir$models_dir" "$destdir$doc_dir"
install -m 0644 "$plugin" "$destdir$plugin_dir/"
echo "install: plugin -> $destdir$plugin_dir/libgstautoencoder.so"

# The runtime the system loader would pick; copied under its versioned name, which
# GStreamer's plugin scanner ignores (it only looks at *.so).
runtime=$(ldconfig -p | awk '/libonnxruntime\.so\.1 /{print $NF; exit}')
if [ -n "$runtime" ]; then
    runtime=$(readlink -f "$runtime")
    rm -f "$destdir$runtime_dir"/libonnxruntime.so.*
    install -m 0644 "$runtime" "$destdir$runtime_dir/$(basename "$runtime")"
    echo "install: ONNX Runtime $(basename "$runtime") -> $destdir$runtime_dir"
else
    echo "install: warning: no ONNX Runtime library on this system; run scripts/setup.sh" >&2
fi

# The project's own models (not the zoo's, which scripts/models.sh converts locally).
install -m 0644 models/*.onnx "$destdir$models_dir/"
echo "install: $(ls models/*.onnx | wc -l) models -> $destdir$models_dir"
install -m 0644 README.md "$destdir$doc_dir/README.md"
install -m 0644 models/README.md "$destdir$doc_dir/models.md"
echo "install: README -> $destdir$doc_dir"

# The installed copy itself, loaded by file name with a fresh registry and no other plugin
# folder, so that another copy (e.g. a per-user one) cannot answer instead.
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
inspected=$(env -u GST_PLUGIN_PATH -u GST_PLUGIN_PATH_1_0 -u GST_PLUGIN_SYSTEM_PATH_1_0 \
    GST_PLUGIN_SYSTEM_PATH="" GST_REGISTRY="$check/registry.bin" \
    gst-inspect-1.0 "$destdir$plugin_dir/libgstautoencoder.so" 2>&1) || {
    echo "$inspected" >&2
    echo "install.sh: gst-inspect-1.0 cannot load $destdir$plugin_dir/libgstautoencoder.so" >&2
    exit 1
}
for element in onnxstyletransfer onnxsegmentation onnxanomaly onnxmap onnxsuperresolution; do
    grep -q "^  $element:" <<<"$inspected" || {
        echo "$inspected" >&2
        echo "install.sh: the installed plugin has no element $element" >&2
        exit 1
    }
done
echo "install: gst-inspect-1.0 $destdir$plugin_dir/libgstautoencoder.so lists the five elements"
