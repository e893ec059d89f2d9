#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Builds examples/c/read_metas.c with gcc and pkg-config and runs it on the plugin cargo built
# (CI: scripts/test.sh). It exits non-zero when a check fails.
#
#   examples/c/run.sh        the plugin: $PLUGIN, else target/debug (examples/plugin-env.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
source examples/plugin-env.sh
# shellcheck disable=SC2046 # pkg-config's flags are words
gcc -Wall -Wextra -Werror -o "$example_dir/read_metas" examples/c/read_metas.c \
    $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-video-1.0) -lm
"$example_dir/read_metas" "$PWD"
