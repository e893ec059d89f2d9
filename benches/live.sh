#!/usr/bin/env bash
# Live benchmark, side by side in one run. For each shipped model with the element that runs it,
# in three modes (default, non-blocking=true, interval=3), at 640x480:
#
#   offline     videotestsrc ! videoconvert ! ELEMENT ! fakesink, as fast as it goes
#   fakesink    videotestsrc is-live=true (30 fps) ! videoconvert ! ELEMENT ! videoconvert !
#               fakesink sync=true qos=true max-lateness=20000000
#   ximagesink  the same into ximagesink, on a virtual display (xvfb-run)
#   rtsp        rtspsrc latency=100 from benches/rtsp_server.py on 127.0.0.1 (live 30 fps,
#               RTP/JPEG) ! rtpjpegdepay ! jpegdec ! videoconvert ! ELEMENT ! videoconvert !
#               the fakesink above
#
# Each run is a process of its own (`bench stats`, examples/bench.rs), measured by the sink's
# `stats` (rendered, dropped) over LIVE_SECONDS after LIVE_WARMUP seconds, with the pipeline
# latency (LATENCY query) and, per rendered frame, the delay from capture to display. A mode
# whose property the element lacks is reported n/a.
#
#     benches/live.sh
#     LIVE_SECONDS=4 LIVE_MODELS="style_mosaic anomaly_brick" benches/live.sh
#
# Environment: LIVE_SECONDS (8), LIVE_WARMUP (2), LIVE_MODELS (every shipped model),
# LIVE_MODES ("default non-blocking interval3"), LIVE_SCENARIOS ("offline fakesink ximagesink
# rtsp"), RTSP_PROTOCOLS (rtspsrc's `protocols`, default tcp; "udp" for RTP over UDP).
# Writes target/bench/live.jsonl (a line a run), target/bench/live.csv and target/bench/live.md
# (the printed table). Installs what it needs from Debian (after scripts/setup.sh) and fetches
# nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${LIVE_SECONDS:-8}
warmup=${LIVE_WARMUP:-2}
models=${LIVE_MODELS:-"style_mosaic style_swirl style_mosaic_rt pencil_sketch segmentation_unet segmentation_unet_int8 anomaly_brick"}
modes=${LIVE_MODES:-"default non-blocking interval3"}
scenarios=${LIVE_SCENARIOS:-"offline fakesink ximagesink rtsp"}
protocols=${RTSP_PROTOCOLS:-tcp}

# 1. What runs the pipelines: GStreamer and ONNX Runtime, then the virtual display, ximagesink
#    and the RTSP server with its Python bindings (Debian's /usr/bin/python3), only if missing.
scripts/setup.sh
APT_PACKAGES=(xvfb xauth gstreamer1.0-x gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    echo "live: installing ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

cargo build --release --example bench
bench=${CARGO_TARGET_DIR:-target}/release/examples/bench
out=target/bench
mkdir -p "$out"
jsonl=$out/live.jsonl
: >"$jsonl"

# 2. The RTSP server, for the whole run.
server_pid=
cleanup() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
if [[ " $scenarios " == *" rtsp "* ]]; then
    /usr/bin/python3 benches/rtsp_server.py >"$out/rtsp_server.out" 2>"$out/rtsp_server.log" &
    server_pid=$!
    for _ in $(seq 100); do
        port=$(head -n1 "$out/rtsp_server.out" 2>/dev/null || true)
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$out/rtsp_server.log" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { echo "live: the RTSP server did not start" >&2; exit 1; }
    echo "live: RTSP server on rtsp://127.0.0.1:$port/test ($protocols)"
fi

element_for() {
    case "$1" in
        style_*|pencil_sketch) echo onnxstyletransfer ;;
        segmentation_*) echo onnxsegmentation ;;
        anomaly_*) echo onnxanomaly ;;
        *) echo "live: no element known for model '$1'" >&2; return 1 ;;
    esac
}

props_for() {
    case "$1" in
        default) echo "" ;;
        non-blocking) echo "non-blocking=true" ;;
        interval3) echo "interval=3" ;;
        *) echo "live: unknown mode '$1' (default, non-blocking, interval3)" >&2; return 1 ;;
    esac
}

caps="video/x-raw,width=640,height=480"
live_source="videotestsrc is-live=true pattern=ball ! $caps,framerate=30/1 ! videoconvert"
live_sink="fakesink sync=true qos=true max-lateness=20000000"

# One measurement; whatever happens, one JSON line lands in $jsonl.
measure() { # scenario model element mode props source sink [wrapper...]
    local scenario=$1 model=$2 element=$3 mode=$4 props=$5 source=$6 sink=$7
    shift 7
    echo "live: $model $mode $scenario" >&2
    local line rc=0
    line=$(timeout $((seconds + warmup + 120)) "$@" "$bench" stats \
        --model "models/$model.onnx" --element "$element" --props "$props" \
        --source "$source" --sink "$sink" --seconds "$seconds" --warmup "$warmup" \
        --scenario "$scenario" --mode "$mode") || rc=$?
    if [ -z "$line" ]; then
        line=$(printf '{"scenario":"%s","model":"%s","element":"%s","mode":"%s","props":"%s","status":"failed","error":"exit status %d, no result"}' \
            "$scenario" "$model" "$element" "$mode" "$props" "$rc")
    fi
    [ "$rc" -eq 0 ] || echo "live: FAILED ($rc): $line" >&2
    echo "$line" >>"$jsonl"
}

for model in $models; do
    element=$(element_for "$model")
    for mode in $modes; do
        props=$(props_for "$mode")
        for scenario in $scenarios; do
            case "$scenario" in
                offline)
                    measure offline "$model" "$element" "$mode" "$props" \
                        "videotestsrc ! $caps ! videoconvert" "fakesink" ;;
                fakesink)
                    measure fakesink "$model" "$element" "$mode" "$props" \
                        "$live_source" "videoconvert ! $live_sink" ;;
                # handle-events=false: with it on, ximagesink 1.22 on Xvfb often dies of an X
                # error (BadValue in XISelectEvents, XInputExtension minor 46) that Xlib's
                # default handler turns into exit(1).
                ximagesink)
                    measure ximagesink "$model" "$element" "$mode" "$props" \
                        "$live_source" "videoconvert ! ximagesink handle-events=false" \
                        xvfb-run -a -s "-screen 0 1280x1024x24" ;;
                rtsp)
                    measure rtsp "$model" "$element" "$mode" "$props" \
                        "rtspsrc location=rtsp://127.0.0.1:$port/test latency=100 protocols=$protocols ! rtpjpegdepay ! jpegdec ! videoconvert" \
                        "videoconvert ! $live_sink" ;;
                *) echo "live: unknown scenario '$scenario'" >&2; exit 2 ;;
            esac
        done
    done
done

python3 benches/live_report.py "$jsonl" --csv "$out/live.csv" --seconds "$seconds" \
    --warmup "$warmup" --rtsp-protocols "$protocols" | tee "$out/live.md"
