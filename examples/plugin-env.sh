# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by the example runners (examples/python/run_all.sh, examples/c/run.sh): makes
# GStreamer find the plugin cargo built, and only that copy, never an older installed one.
#
# The plugin is $PLUGIN, by default ${CARGO_TARGET_DIR:-target}/debug/libgstautoencoder.so.
# GST_PLUGIN_PATH is searched recursively, and target/debug also holds procedural macros as
# .so files and, in deps/, another libgstautoencoder.so that `cargo test` builds (with that
# run's features): which copy wins would depend on the order the folder lists them. So
# GST_PLUGIN_PATH names a temporary folder holding a link to the plugin alone, with a registry
# of its own there. Sets $example_dir (that folder, removed on exit).
plugin=${PLUGIN:-${CARGO_TARGET_DIR:-target}/debug/libgstautoencoder.so}
if [ ! -f "$plugin" ]; then
    echo "no plugin at $plugin: run 'cargo build' first, or set PLUGIN" >&2
    exit 1
fi
example_dir=$(mktemp -d)
trap 'rm -rf "$example_dir"' EXIT
ln -s "$(readlink -f "$plugin")" "$example_dir/libgstautoencoder.so"
export GST_PLUGIN_PATH=$example_dir GST_REGISTRY=$example_dir/registry.bin
