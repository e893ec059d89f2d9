#!/usr/bin/env bash
# Soak: FRAMES frames (default 10,000) through each element in its own process, printing RSS
# every 10% of the run and the growth after frame 100 (the target: flat, under 5 MB).
#
#     benches/soak.sh            # 10,000 frames each (about 10 minutes on 2 cores)
#     benches/soak.sh 1000       # a shorter run
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-10000}
cargo build --release --example bench
bench=target/release/examples/bench
$bench soak --model models/pencil_sketch.onnx --element onnxstyletransfer \
    --width 320 --height 180 --frames "$frames"
$bench soak --model models/style_mosaic_rt.onnx --element onnxstyletransfer \
    --width 160 --height 96 --frames "$frames" --props "non-blocking=true"
$bench soak --model models/segmentation_unet.onnx --element onnxsegmentation \
    --width 160 --height 96 --frames "$frames"
$bench soak --model models/anomaly_brick.onnx --element onnxanomaly \
    --width 160 --height 96 --frames "$frames"
