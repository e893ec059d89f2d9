# SPDX-License-Identifier: MIT OR Apache-2.0
"""onnxmap on a live source, from Python: reads each buffer's map range (GstAutoencoderMapMeta)
in a pad probe, and changes the normalisation while PLAYING: first the model's fixed range,
then a range of our own (range-min, range-max), then each frame's own minimum and maximum.

The default model is the test fixture tests/fixtures/map_gradient.onnx (a 3x3 convolution:
an edge-like map, kind map, map_range -0.25..1.25, map_meaning "test gradient"); give another
map model, e.g. models/zoo/hed_edges.onnx after scripts/models.sh, as the argument.

    /usr/bin/python3 examples/python/map.py [MODEL]
"""
import sys
import threading

from common import Gst, init, is_finite_number, meta_fields, play_until, probe, repo_path, stop

META = "GstAutoencoderMapMeta"


def main():
    init()
    model = sys.argv[1] if len(sys.argv) > 1 else repo_path("tests", "fixtures", "map_gradient.onnx")
    pipeline = Gst.parse_launch(
        "videotestsrc is-live=true pattern=smpte ! video/x-raw,width=160,height=120,framerate=30/1 "
        f"! videoconvert ! onnxmap name=map model-file=\"{model}\" normalization=fixed "
        "output=overlay opacity=0.6 ! videoconvert ! fakesink sync=true")
    element = pipeline.get_by_name("map")
    metas, lock = [], threading.Lock()

    @probe
    def read_meta(pad, info):
        buffer = info.get_buffer()
        values = meta_fields(buffer, META) if buffer is not None else None
        if values is not None:
            with lock:
                metas.append(values)

    element.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, read_meta)

    def since(mark):
        with lock:
            return metas[mark:]

    def change(accept, **properties):
        """Sets properties while playing; returns the metas from the first buffer `accept`ed,
        once three more have come."""
        mark = len(since(0))
        for name, value in properties.items():
            element.set_property(name.replace("_", "-"), value)
        play_until(pipeline, lambda: any(accept(m) for m in since(mark)))
        first = next(i for i, m in enumerate(since(mark)) if accept(m))
        play_until(pipeline, lambda: len(since(mark)) >= first + 4)
        return since(mark)[first:]

    pipeline.set_state(Gst.State.PLAYING)
    try:
        # normalization=fixed: the model's map_range, which the range properties read once started.
        play_until(pipeline, lambda: len(since(0)) >= 3)
        first = since(0)[0]
        low, high = element.get_property("range-min"), element.get_property("range-max")
        assert (first["low"], first["high"]) == (low, high), (first, low, high)
        assert is_finite_number(first["min"]) and is_finite_number(first["max"]), first
        assert first["min"] <= first["max"], first
        print(f"map: '{first['meaning']}', values {first['min']:.3f}..{first['max']:.3f}, "
              f"drawn over {low}..{high}")

        # A range of our own, while playing: every frame from the change on is drawn over it.
        ours = (0.0, 0.5)
        after = change(lambda m: (m["low"], m["high"]) == ours, range_min=ours[0], range_max=ours[1])
        assert all((m["low"], m["high"]) == ours for m in after), after
        # Each frame's own minimum and maximum.
        after = change(lambda m: m["high"] != ours[1], normalization="minmax")
        assert all((m["low"], m["high"]) == (m["min"], m["max"]) for m in after), after
        print(f"map: range {ours[0]}..{ours[1]}, then each frame's min-max "
              f"({after[-1]['low']:.3f}..{after[-1]['high']:.3f}) while playing")
    finally:
        stop(pipeline)


if __name__ == "__main__":
    main()
