# SPDX-License-Identifier: MIT OR Apache-2.0
"""Errors from the elements, from Python: an application tells them apart by the error's
domain and code (README, Troubleshooting), not by the text, and stops the pipeline.

    /usr/bin/python3 examples/python/errors.py
"""
from common import Gst, PipelineError, init, play_until, repo_path, stop

CASES = [
    # (element and properties, the kind of error expected)
    ("onnxstyletransfer model-file=/nonexistent/style.onnx",
     (Gst.ResourceError, Gst.ResourceError.NOT_FOUND)),
    # A segmentation model given to the anomaly element: its metadata says kind segmentation.
    (f"onnxanomaly model-file=\"{repo_path('models', 'segmentation_unet.onnx')}\"",
     (Gst.LibraryError, Gst.LibraryError.SETTINGS)),
]


def main():
    init()
    for element, expected in CASES:
        pipeline = Gst.parse_launch(
            f"videotestsrc is-live=true ! videoconvert ! {element} ! videoconvert ! fakesink")
        try:
            # Starting fails: set_state says so at once, and the bus has the error message.
            result = pipeline.set_state(Gst.State.PLAYING)
            assert result == Gst.StateChangeReturn.FAILURE, result
            play_until(pipeline, lambda: False, timeout=5)  # ends by raising: the error, or a timeout
        except PipelineError as e:
            assert e.kind() == expected, (element, e.kind(), str(e))
            print(f"errors: {e.kind()[1].value_nick} error from {e.source}: {e.error.message}")
        finally:
            stop(pipeline)


if __name__ == "__main__":
    main()
