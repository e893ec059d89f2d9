#!/usr/bin/env bash
# Dependency checks with cargo-deny, configured by deny.toml:
#
#   scripts/deny.sh              licences, bans (duplicates, wildcards) and sources (crates.io
#                                only); offline, what scripts/test.sh runs
#   scripts/deny.sh advisories   the RustSec advisory database (security advisories, unmaintained
#                                and yanked crates); needs github.com, where the database lives
#   scripts/deny.sh CHECK...     any of: licenses bans sources advisories
#
# Installs the pinned cargo-deny from crates.io (cargo install, about 2-3 minutes on 2 cores)
# when it is missing or another version.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2

case "${1:-}" in
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
esac

# `cargo deny` also finds the binary in $CARGO_HOME/bin when that is not on PATH.
installed=$(cargo deny --version 2>/dev/null | awk '{print $2}' || true)
if [ "$installed" != "$CARGO_DENY_VERSION" ]; then
    echo "deny: installing cargo-deny $CARGO_DENY_VERSION from crates.io (was: ${installed:-none})"
    cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION"
fi

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(licenses bans sources)
# --locked: Cargo.lock as committed; the graph (all features, dev-dependencies) is set in deny.toml.
cargo deny --locked check "${checks[@]}"
