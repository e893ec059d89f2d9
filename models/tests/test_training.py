"""Tests of the training code. They need torch (and numpy, onnx, onnxruntime, scikit-image,
scikit-learn, tqdm: models/requirements.txt); without them they are skipped, saying why.

    python3 -m unittest discover -v -s models/tests -t .
"""
import importlib.util
import json
import os
import tempfile
import unittest

MISSING = [m for m in ("torch", "numpy", "onnx", "onnxruntime", "skimage", "sklearn", "tqdm")
           if importlib.util.find_spec(m) is None]
if MISSING:
    raise unittest.SkipTest(
        f"training tests skipped: {', '.join(MISSING)} not installed "
        "(pip install -r models/requirements.txt)")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models import losses, nets, train  # noqa: E402


class LossesByHand(unittest.TestCase):
    def test_gram_matrix(self):
        # C=2, H=1, W=2: phi = [[1, 2], [3, 4]]; G = phi phi^T / (C H W) = [[5, 11], [11, 25]] / 4
        f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
        self.assertTrue(torch.allclose(losses.gram_matrix(f), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4))

    def test_content_loss(self):
        a = torch.zeros(1, 2, 1, 2)
        b = torch.tensor([[[[1.0, 2.0]], [[0.0, 1.0]]]])
        # (1 + 4 + 0 + 1) / (C H W = 4)
        self.assertAlmostEqual(float(losses.content_loss(a, b)), 6 / 4)

    def test_style_loss(self):
        f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
        target = torch.zeros(1, 2, 2)
        # ||G||_F^2 = (25 + 121 + 121 + 625) / 16
        self.assertAlmostEqual(float(losses.style_loss([f], [target])), 892 / 16, places=5)

    def test_total_variation(self):
        x = torch.tensor([[[[0.0, 1.0], [1.0, 3.0]]]])
        # vertical |1-0|, |3-1| -> mean 1.5; horizontal |1-0|, |3-1| -> mean 1.5
        self.assertAlmostEqual(float(losses.total_variation(x)), 3.0)

    def test_ssim_of_identical_images_is_one(self):
        x = torch.rand(1, 3, 16, 16)
        self.assertTrue(torch.allclose(losses.ssim_map(x, x), torch.ones(1, 1, 16, 16), atol=1e-4))


class Networks(unittest.TestCase):
    def test_shapes_at_any_multiple(self):
        x = torch.rand(1, 3, 48, 80)
        for net, channels in ((nets.TransformerNet(), 3), (nets.unet(4), 4), (nets.SegNet(4), 4),
                              (nets.anomaly_autoencoder(), 3),
                              (nets.EncoderDecoder(3, upsampling="transposed"), 3)):
            self.assertEqual(net.eval()(x).shape, (1, channels, 48, 80), type(net).__name__)

    def test_segnet_unpools_to_the_max_positions(self):
        x = torch.tensor([[[[1.0, 5.0], [2.0, 3.0]]]])
        pooled, idx = torch.nn.functional.max_pool2d(x, 2, 2, return_indices=True)
        up = torch.nn.functional.max_unpool2d(pooled, idx, 2, 2)
        self.assertTrue(torch.equal(up, torch.tensor([[[[0.0, 5.0], [0.0, 0.0]]]])))

    def test_a_few_steps_decrease_the_loss(self):
        torch.manual_seed(0)
        net = nets.anomaly_autoencoder()
        x = torch.rand(4, 3, 32, 32)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        first = None
        for _ in range(30):
            loss = torch.nn.functional.mse_loss(net(x), x)
            first = first if first is not None else float(loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.assertLess(float(loss), 0.5 * first)


class QuickRuns(unittest.TestCase):
    """The real commands in --quick mode: they train, export with metadata, and evaluate."""

    def test_segmentation_and_anomaly_quick(self):
        import onnx

        with tempfile.TemporaryDirectory() as out:
            seg = train.main(["--quick", "--out", out, "segmentation"])
            anomaly = train.main(["--quick", "--out", out, "anomaly"])
            self.assertIn("mIoU", seg)
            self.assertIn("pixel_AUROC_l2+ssim", anomaly)
            meta = {p.key: p.value for p in onnx.load(os.path.join(out, "segmentation_unet.onnx")).metadata_props}
            self.assertEqual(meta["kind"], "segmentation")
            self.assertEqual(len(meta["class_names"].split(",")), 4)
            self.assertTrue(os.path.exists(os.path.join(out, "reference", "anomaly_brick.output.f32")))
            json.dumps([seg, anomaly])


if __name__ == "__main__":
    unittest.main()
