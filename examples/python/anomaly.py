# SPDX-License-Identifier: MIT OR Apache-2.0
"""onnxanomaly on a live source, from Python: reads each buffer's anomaly score in a pad probe,
reacts to the `autoencoder-anomaly` message the element posts when the score crosses
`threshold`, and raises the threshold while PLAYING, which makes the frame normal again (a
second message).

The source is docs/samples/brick.png (brick with a scratch and a gravel patch) made live; its
score through anomaly_brick.onnx in Python is in docs/samples/results.json.

    /usr/bin/python3 examples/python/anomaly.py
"""
import json
import threading

from common import Gst, init, is_finite_number, meta_fields, play_until, probe, repo_path, stop

META = "GstAutoencoderAnomalyMeta"


def main():
    init()
    pipeline = Gst.parse_launch(
        f"filesrc location=\"{repo_path('docs', 'samples', 'brick.png')}\" ! pngdec "
        "! imagefreeze is-live=true ! video/x-raw,framerate=30/1 ! videoconvert "
        f"! onnxanomaly name=anomaly model-file=\"{repo_path('models', 'anomaly_brick.onnx')}\" "
        "threshold=2 ! videoconvert ! fakesink sync=true")
    anomaly = pipeline.get_by_name("anomaly")
    metas, crossings, lock = {}, [], threading.Lock()

    @probe
    def read_meta(pad, info):
        buffer = info.get_buffer()
        values = meta_fields(buffer, META) if buffer is not None else None
        if values is not None:
            with lock:
                metas[buffer.pts] = values

    anomaly.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, read_meta)

    def on_element(name, values, message):
        if name == "autoencoder-anomaly":
            crossings.append(values)
            state = "ANOMALOUS" if values["anomalous"] else "normal again"
            print(f"anomaly: {state} at {values['timestamp'] / Gst.SECOND:.3f} s: score "
                  f"{values['score']:.2f}, threshold {values['threshold']}")

    with open(repo_path("docs", "samples", "results.json")) as f:
        python_score = json.load(f)["brick_score_p99"]

    pipeline.set_state(Gst.State.PLAYING)
    try:
        def metas_from(pts):
            with lock:
                return [m for t, m in sorted(metas.items()) if t >= pts]

        play_until(pipeline, lambda: len(crossings) >= 1, on_element=on_element)
        up = crossings[0]
        # The message is posted before its buffer leaves the element: wait for the buffer.
        play_until(pipeline, lambda: metas_from(up["timestamp"]), on_element=on_element)
        meta = metas_from(up["timestamp"])[0]
        assert up["anomalous"] and up["threshold"] == 2.0, up
        assert meta == up, f"the message carries the buffer's meta: {meta} != {up}"
        assert is_finite_number(up["score"]) and up["score"] >= up["threshold"], up
        assert abs(up["score"] - python_score) / python_score < 0.02, (up["score"], python_score)

        # A threshold above the score, while playing: one message, normal again.
        anomaly.set_property("threshold", 100.0)
        play_until(pipeline, lambda: len(crossings) >= 2, on_element=on_element)
        down = crossings[1]
        assert not down["anomalous"] and down["threshold"] == 100.0, down
        play_until(pipeline, lambda: len(metas_from(down["timestamp"])) >= 3, on_element=on_element)
        later = metas_from(down["timestamp"])
        assert all(not m["anomalous"] and m["threshold"] == 100.0 for m in later)
        print(f"anomaly: score {up['score']:.2f} (Python {python_score:.2f}); "
              f"{len(metas)} buffers read")
    finally:
        stop(pipeline)


if __name__ == "__main__":
    main()
