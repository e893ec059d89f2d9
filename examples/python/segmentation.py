# SPDX-License-Identifier: MIT OR Apache-2.0
"""onnxsegmentation on a live source, from Python: reads the class fractions of each buffer
in a pad probe and from the bus (post-messages), checks them against what Python's ONNX
Runtime gave on the same picture, and changes the overlay's `alpha` while PLAYING.

The source is a still picture made live (imagefreeze is-live=true), so that the answer is
known: docs/samples/scene.png, whose classes by segmentation_unet.onnx in ONNX Runtime are in
docs/samples/scene.classes.u8.

    /usr/bin/python3 examples/python/segmentation.py
"""
import collections
import threading

from common import (Frames, Gst, class_fractions, init, meta_fields, play_until, probe,
                    repo_path, stop)

META = "GstAutoencoderSegmentationMeta"


def main():
    init()
    pipeline = Gst.parse_launch(
        f"filesrc location=\"{repo_path('docs', 'samples', 'scene.png')}\" ! pngdec "
        "! imagefreeze is-live=true ! video/x-raw,framerate=30/1 ! videoconvert "
        f"! onnxsegmentation name=seg model-file=\"{repo_path('models', 'segmentation_unet.onnx')}\" "
        "output=overlay alpha=0.5 post-messages=true ! videoconvert ! fakesink sync=true")
    seg = pipeline.get_by_name("seg")
    frames = Frames(seg)
    metas, messages, lock = {}, {}, threading.Lock()

    @probe
    def read_meta(pad, info):
        buffer = info.get_buffer()
        values = meta_fields(buffer, META) if buffer is not None else None
        if values is not None:
            with lock:
                metas[buffer.pts] = class_fractions(values)

    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, read_meta)

    def on_element(name, values, message):
        if name == "autoencoder-segmentation" and message.src == seg:
            messages[values["timestamp"]] = class_fractions(values)

    # What ONNX Runtime in Python gave on this picture: one class id per pixel.
    with open(repo_path("docs", "samples", "scene.classes.u8"), "rb") as f:
        ids = f.read()
    names = ["background", "brick", "grass", "gravel"]  # the model's class_names
    counts = collections.Counter(ids)
    expected = {name: counts[i] / len(ids) for i, name in enumerate(names)}

    def metas_now():
        with lock:
            return dict(metas)

    pipeline.set_state(Gst.State.PLAYING)
    try:
        # A message is posted before its buffer leaves the element: wait for the buffers too.
        play_until(pipeline, lambda: len(messages) >= 3 and metas_now().keys() >= messages.keys(),
                   on_element=on_element)
        seen = metas_now()
        for pts, fractions in messages.items():
            assert fractions == seen[pts], f"the message at {pts} says what the meta says"
        for fractions in seen.values():  # the same picture in every frame
            assert list(fractions) == names, fractions
            assert abs(sum(fractions.values()) - 1) < 1e-9, fractions
            for name, share in fractions.items():
                # The element and Python agree on at least 99.8% of the pixels.
                assert abs(share - expected[name]) < 0.002, (name, share, expected[name])
        print("segmentation: " + ", ".join(f"{n} {f:.3f}" for n, f in fractions.items())
              + " (Python: " + ", ".join(f"{expected[n]:.3f}" for n in names) + ")")

        # alpha 0 while playing: the overlay vanishes, frames pass unchanged.
        before = frames.pairs()
        assert before and all(into != out for _, into, out in before), "alpha 0.5 draws"
        seg.set_property("alpha", 0.0)
        changed_at = before[-1][0]
        unchanged = lambda: [p for p in frames.pairs(after=changed_at) if p[1] == p[2]]  # noqa: E731
        play_until(pipeline, lambda: len(unchanged()) >= 1, on_element=on_element)
        first = unchanged()[0][0]
        play_until(pipeline, lambda: len(frames.pairs(after=first)) >= 3, on_element=on_element)
        assert all(into == out for _, into, out in frames.pairs(after=first)), "alpha 0: unchanged"
        print(f"segmentation: alpha 0 from the frame at {first / Gst.SECOND:.3f} s on: "
              "frames unchanged")
    finally:
        stop(pipeline)


if __name__ == "__main__":
    main()
