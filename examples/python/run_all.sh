#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Runs every Python example on the plugin cargo built (CI: scripts/test.sh). Each one asserts
# on what it reads and exits non-zero when a check fails; a few seconds each.
#
#   examples/python/run_all.sh [NAME...]    e.g. segmentation; default: all of them
#
# The plugin: $PLUGIN, else target/debug's (examples/plugin-env.sh).
# Python: Debian's /usr/bin/python3, which has PyGObject (python3-gi); PYTHON names another.
set -euo pipefail
cd "$(dirname "$0")/../.."
source examples/plugin-env.sh
python=${PYTHON:-/usr/bin/python3}
examples=("$@")
[ ${#examples[@]} -gt 0 ] || examples=(style_transfer segmentation anomaly map superres errors)
for example in "${examples[@]}"; do
    echo "examples/python/$example.py"
    timeout 120 "$python" "examples/python/$example.py"
done
echo "examples/python: all passed"
