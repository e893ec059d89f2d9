# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by the example runners (examples/python/run_all.sh, examples/c/run.sh): makes
# GStreamer find the plugin cargo built, and only that copy, never an older installed one.
#
#   source examples/plugin-env.sh [PLUGIN]
#
# PLUGIN: a libgstautoencoder.so; default ${CARGO_TARGET_DIR:-target}/debug/libgstautoencoder.so.
# GST_PLUGIN_PATH is searched recursively, and target/debug also holds every build script and
# procedural macro as a .so: so it names a temporary folder holding a link to the plugin
# alone, with a registry of its own there. Sets $example_dir (that folder, removed on exit).
plugin=${1:-${CARGO_TARGET_DIR:-target}/debug/libgstautoencoder.so}
if [ ! -f "$plugin" ]; then
    echo "no plugin at $plugin: run 'cargo build' first, or name it" >&2
    exit 1
fi
example_dir=$(mktemp -d)
trap 'rm -rf "$example_dir"' EXIT
ln -s "$(readlink -f "$plugin")" "$example_dir/libgstautoencoder.so"
export GST_PLUGIN_PATH=$example_dir GST_REGISTRY=$example_dir/registry.bin
