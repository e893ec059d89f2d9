# SPDX-License-Identifier: MIT OR Apache-2.0
"""onnxsuperresolution on a live source, from Python: reads the factor the element found
(the read-only property scale-factor), the negotiated output size, and checks in a pad probe
that each frame out is the frame in enlarged: twice the size, and close to it, pixel for
pixel, when shrunk back by 2x2 averages. The element has no property to change while playing:
every frame out is the model's result for that very frame.

    /usr/bin/python3 examples/python/superres.py [MODEL]
"""
import sys

from common import Frames, Gst, init, play_until, repo_path, stop

WIDTH, HEIGHT = 160, 120


def shrunk_difference(small, large, factor):
    """Mean absolute difference between the frame in and the frame out averaged over
    factor x factor blocks (packed RGB, 3 bytes a pixel, no row padding)."""
    width = WIDTH * factor
    total = 0
    for y in range(HEIGHT):
        for x in range(WIDTH):
            for c in range(3):
                block = sum(large[((y * factor + j) * width + x * factor + i) * 3 + c]
                            for j in range(factor) for i in range(factor))
                total += abs(block / factor ** 2 - small[(y * WIDTH + x) * 3 + c])
    return total / (WIDTH * HEIGHT * 3)


def main():
    init()
    model = sys.argv[1] if len(sys.argv) > 1 else repo_path("models", "superres_espcn_x2.onnx")
    pipeline = Gst.parse_launch(
        f"videotestsrc is-live=true pattern=smpte ! video/x-raw,format=RGB,width={WIDTH},"
        f"height={HEIGHT},framerate=30/1 ! onnxsuperresolution name=sr model-file=\"{model}\" "
        "! video/x-raw,format=RGB ! fakesink sync=true")
    sr = pipeline.get_by_name("sr")
    frames = Frames(sr)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        play_until(pipeline, lambda: len(frames.pairs()) >= 3)
        factor = sr.get_property("scale-factor")
        caps = sr.get_static_pad("src").get_current_caps().get_structure(0)
        size = (caps.get_value("width"), caps.get_value("height"))
        assert factor == 2 and size == (WIDTH * factor, HEIGHT * factor), (factor, size)
        _, small, large = frames.pairs()[-1]
        assert len(large) == len(small) * factor ** 2, (len(small), len(large))
        difference = shrunk_difference(small, large, factor)
        assert difference < 8, f"shrunk back, the output is {difference:.1f} levels from the input"
        print(f"super-resolution: x{factor}, {WIDTH}x{HEIGHT} -> {size[0]}x{size[1]}; shrunk "
              f"back, {difference:.2f} levels from the input on average")
    finally:
        stop(pipeline)


if __name__ == "__main__":
    main()
