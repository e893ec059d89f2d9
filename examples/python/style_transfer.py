# SPDX-License-Identifier: MIT OR Apache-2.0
"""onnxstyletransfer on a live source, from Python: reads the provider message, compares the
frames going in and out of the element in pad probes, and turns `strength` down to 0 while
PLAYING (0 skips inference: the frames then pass unchanged).

    /usr/bin/python3 examples/python/style_transfer.py [MODEL]
"""
import sys

from common import Frames, Gst, init, play_until, repo_path, stop


def main():
    init()
    model = sys.argv[1] if len(sys.argv) > 1 else repo_path("models", "pencil_sketch.onnx")
    pipeline = Gst.parse_launch(
        "videotestsrc is-live=true pattern=smpte ! video/x-raw,width=320,height=240,framerate=30/1 "
        f"! videoconvert ! onnxstyletransfer name=style model-file=\"{model}\" strength=1.0 "
        "! videoconvert ! fakesink sync=true")
    style = pipeline.get_by_name("style")
    frames = Frames(style)
    started = {}

    def on_element(name, values, message):
        if name == "autoencoder-provider":
            started.update(values)
            print(f"running on {values['active']} ({values['requested'].value_nick} asked), "
                  f"session built in {values['start-ms']} ms")

    pipeline.set_state(Gst.State.PLAYING)
    try:
        # Strength 1: the element changes the frames.
        play_until(pipeline, lambda: started and len(frames.pairs()) >= 5, on_element=on_element)
        stylised = frames.pairs()
        assert started["active"] in ("cpu", "cuda", "tensorrt"), started
        assert all(into is not None and into != out for _, into, out in stylised), \
            "at strength 1 every frame out differs from the frame in"
        # Strength 0, while playing: from some frame on, the frames pass unchanged.
        style.set_property("strength", 0.0)
        changed_at = stylised[-1][0]
        unchanged = lambda: [p for p in frames.pairs(after=changed_at) if p[1] == p[2]]  # noqa: E731
        play_until(pipeline, lambda: len(unchanged()) >= 1)
        first = unchanged()[0][0]
        play_until(pipeline, lambda: len(frames.pairs(after=first)) >= 5)
        later = frames.pairs(after=first)
        assert all(into == out for _, into, out in later), "after strength 0 frames pass unchanged"
        print(f"style transfer: {len(stylised)} frames stylised; strength 0 from the frame at "
              f"{first / Gst.SECOND:.3f} s, then {len(later)} frames unchanged")
    finally:
        stop(pipeline)


if __name__ == "__main__":
    main()
