#!/usr/bin/env bash
# End-to-end benchmark, side by side in one run, for every shipped model at 640x360 and
# 1280x720: (a) ONNX Runtime alone (the Rust session on a preallocated input), (b) the element
# in `videotestsrc ! element ! fakesink`, (c) a Python loop with OpenCV + onnxruntime doing the
# same pre- and post-processing, (d) the reference Johnson models of ../shared/ref-models when
# present. Live sources are benches/live.sh's. Each measurement runs in its own process (peak RSS is its own), REPS times interleaved; the report takes the median.
#
#     benches/pipeline.sh            # BENCH_REPS=3 BENCH_SECONDS=3 by default
#
# Writes target/bench/pipeline.csv and docs/performance.png, prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
python3 -m pip install --quiet --disable-pip-version-check -r benches/requirements.txt
cargo build --release --example bench

reps=${BENCH_REPS:-3}
seconds=${BENCH_SECONDS:-3}
bench=target/release/examples/bench
out=target/bench
mkdir -p "$out"
csv=$out/pipeline.csv
echo "runner,model,config,width,height,frames,fps,latency_ms,peak_rss_mb" >"$csv"

# A failed run is reported and left out; the others go on.
record() { "$@" | tee -a "$csv" || echo "FAILED: $*" >&2; }

# model | element | element properties (also read by `ort` and the Python loop)
configs="style_mosaic|onnxstyletransfer|
style_swirl|onnxstyletransfer|
style_mosaic_rt|onnxstyletransfer|
style_mosaic_rt|onnxstyletransfer|inference-scale=0.5
pencil_sketch|onnxstyletransfer|
segmentation_unet|onnxsegmentation|
segmentation_unet|onnxsegmentation|inference-scale=0.35
segmentation_unet_int8|onnxsegmentation|
segmentation_unet_int8|onnxsegmentation|inference-scale=0.35
anomaly_brick|onnxanomaly|"

for size in 640x360 1280x720; do
    w=${size%x*} h=${size#*x}
    frame=$out/frame-$size.rgb
    $bench frame --width "$w" --height "$h" --out "$frame"
    while IFS='|' read -r model element props; do
        scale=$(sed -n 's/.*inference-scale=\([0-9.]*\).*/\1/p' <<<"$props")
        for _ in $(seq "$reps"); do
            common=(--model "models/$model.onnx" --width "$w" --height "$h" --props "$props")
            record $bench ort "${common[@]}" --seconds "$seconds"
            record $bench element "${common[@]}" --element "$element" --seconds "$seconds"
            record python3 benches/python_loop.py --model "models/$model.onnx" --frame "$frame" \
                --width "$w" --height "$h" --scale "${scale:-1}" --config "$props" --seconds "$seconds"
        done
    done <<<"$configs"
done

# (d) The Johnson et al. reference models (fixed 720x720, RGB 0-255), when present.
for ref in ../shared/ref-models/winml_mosaic.onnx ../shared/ref-models/winml_candy.onnx; do
    if [ ! -f "$ref" ]; then
        echo "SKIPPED: $ref not present" >&2
        continue
    fi
    $bench frame --width 640 --height 360 --out "$out/frame-640x360.rgb"
    for _ in $(seq "$reps"); do
        common=(--model "$ref" --width 640 --height 360 --props "input-range=0-255")
        record $bench ort "${common[@]}" --seconds "$seconds"
        record $bench element "${common[@]}" --element onnxstyletransfer --seconds "$seconds"
        record python3 benches/python_loop.py --model "$ref" --frame "$out/frame-640x360.rgb" \
            --input-range 0-255 --config "input-range=0-255" --seconds "$seconds"
    done
done

python3 benches/report.py "$csv" --plot docs/performance.png
