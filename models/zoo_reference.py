"""The zoo's reference side (see models.zoo): decodes the check photos and runs the original
TFLite models in the TFLite interpreter, in a Python of its own.

    PYTHONPATH=<the zoo's reference tools> python3 models/zoo_reference.py JOB.json

It runs as a separate process with the pinned ai-edge-litert (the TFLite interpreter, 1.4.0)
and Pillow wheels on its path, which the project's Python does not have; it needs only numpy
from that Python. The job (JSON) names the photos, the sizes to fit them to and the TFLite
models; the answer is one .npz:

- `fit_<H>x<W>`: the photos, centre-cropped to the aspect and resized (Lanczos) to HxW, uint8
  [N,H,W,3], for every size asked and every model's input size;
- `ref_<name>`: each model's first output on the photos fitted to its input size (RGB 0-1,
  NHWC, float32 [N,h,w,C]), as the TFLite interpreter computes it.

The interpreter runs with its default delegate, XNNPACK: MediaPipe's custom op
Convolution2DTransposeBias is implemented there (the plain TFLite kernels refuse it).
"""
import json
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageOps


def fit(image, height, width):
    return np.asarray(ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS), dtype=np.uint8)


def main(job_file):
    with open(job_file, encoding="utf-8") as f:
        job = json.load(f)
    photos = [Image.open(path).convert("RGB") for path in job["photos"]]
    out = {}

    def fitted(height, width):
        key = f"fit_{height}x{width}"
        if key not in out:
            out[key] = np.stack([fit(p, height, width) for p in photos])
        return out[key]

    for height, width in job["sizes"]:
        fitted(height, width)
    for model in job["models"]:
        interpreter = Interpreter(model_path=model["path"])
        interpreter.allocate_tensors()
        (given,), first = interpreter.get_input_details(), interpreter.get_output_details()[0]
        _, height, width, channels = given["shape"]
        assert channels == 3 and given["dtype"] == np.float32, given
        results = []
        for rgb in fitted(int(height), int(width)):
            interpreter.set_tensor(given["index"], (rgb.astype(np.float32) / 255.0)[None])
            interpreter.invoke()
            results.append(interpreter.get_tensor(first["index"])[0].copy())
        out["ref_" + model["name"]] = np.stack(results)
    np.savez(job["out"], **out)


if __name__ == "__main__":
    main(sys.argv[1])
