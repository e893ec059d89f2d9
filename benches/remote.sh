#!/usr/bin/env bash
# Local ONNX Runtime against a Triton Inference Server on 127.0.0.1 (triton/serve.py, dynamic
# batching), for 1, 2 and 4 pipelines at once (one process each, as cameras on many hosts
# would be): frames/s per stream and in total, latency per frame inside the element, and the
# batch sizes the server executed (its statistics: inferences / executions).
#
#   benches/remote.sh [MODEL] [SECONDS]     default models/style_mosaic_rt.onnx, 8 s
#
# Prints a table and writes target/bench/remote.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/style_mosaic_rt.onnx}
seconds=${2:-8}
name=$(basename "$model" .onnx)
mkdir -p target/bench
cargo build --release --quiet --example bench
bench=target/release/examples/bench
python=$(scripts/triton.sh)
port=18901
"$python" triton/serve.py "$model" --grpc-port $port --http-port 18900 --metrics-port 18902 \
    > target/bench/triton.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 120); do grep -q '^READY' target/bench/triton.log && break; sleep 1; done
grep -q '^READY' target/bench/triton.log || { echo "remote.sh: Triton did not start" >&2; exit 1; }

counts() { # inference_count execution_count of the model, from Triton's HTTP statistics
    "$python" -c "
import json, urllib.request
s = json.load(urllib.request.urlopen('http://127.0.0.1:18900/v2/models/$name/stats'))['model_stats'][0]
print(s['inference_count'], s['execution_count'])"
}

csv=target/bench/remote.csv
echo "runner,streams,fps_per_stream,fps_total,latency_ms,inferences,executions,mean_batch" > "$csv"
for runner in local triton; do
    props=""
    [ "$runner" = triton ] && props="inference-server=grpc://127.0.0.1:$port model-name=$name"
    for streams in 1 2 4; do
        read -r inf0 exe0 < <(counts)
        outs=()
        for i in $(seq "$streams"); do
            out=$(mktemp); outs+=("$out")
            "$bench" element --model "$model" --element onnxstyletransfer --seconds "$seconds" \
                --props "$props" > "$out" 2>/dev/null &
        done
        wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
        read -r inf1 exe1 < <(counts)
        # Lines: runner,model,config,width,height,frames,fps,latency_ms,peak_rss_mb
        stats=$(cat "${outs[@]}" | awk -F, -v n="$streams" '
            { fps += $7; lat += $8 } END { printf "%.1f,%.1f,%.1f", fps / n, fps, lat / n }')
        rm -f "${outs[@]}"
        inferences=$((inf1 - inf0)); executions=$((exe1 - exe0))
        batch=$(awk -v i=$inferences -v e=$executions 'BEGIN { printf "%.2f", e ? i / e : 0 }')
        echo "$runner,$streams,$stats,$inferences,$executions,$batch" >> "$csv"
    done
done
column -s, -t < "$csv"
echo "written: $csv"
