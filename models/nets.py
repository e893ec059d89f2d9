"""The autoencoders: encoder-decoder CNNs with the three upsampling variants of the course
material, U-Net skip connections, SegNet max-unpooling, the Johnson et al. style transformer,
and the reconstruction autoencoder for anomaly detection.

Every network takes `input` [N,3,H,W] in 0..1 and works at any H, W that is a multiple of its
`size_multiple` (2 ** number of down-sampling steps).
"""
import torch
from torch import nn
import torch.nn.functional as F

UPSAMPLING = ("interpolate", "transposed", "unpool")


def conv_block(cin, cout, stride=1, norm="batch", kernel=3):
    """Conv (reflection padded) + normalisation + ReLU."""
    layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(cout))
    elif norm == "instance":
        layers.append(nn.InstanceNorm2d(cout, affine=True))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Upsample(nn.Module):
    """Doubles H and W: nearest interpolation + conv, or a stride-2 transposed conv.
    (Max-unpooling needs the encoder's indices and lives in SegNet.)"""

    def __init__(self, cin, cout, mode="interpolate", norm="batch"):
        super().__init__()
        if mode not in ("interpolate", "transposed"):
            raise ValueError(f"upsampling '{mode}' needs pooling indices; use SegNet")
        self.mode = mode
        if mode == "interpolate":
            self.conv = conv_block(cin, cout, norm=norm)
        else:
            layers = [nn.ConvTranspose2d(cin, cout, 2, stride=2)]
            if norm == "batch":
                layers.append(nn.BatchNorm2d(cout))
            elif norm == "instance":
                layers.append(nn.InstanceNorm2d(cout, affine=True))
            layers.append(nn.ReLU(inplace=True))
            self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.mode == "interpolate":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x)


class EncoderDecoder(nn.Module):
    """Plain encoder-decoder: stride-2 conv blocks to a bottleneck, then upsampling back.
    `skip=True` makes it a U-Net (encoder features concatenated into the decoder)."""

    def __init__(self, out_channels, widths=(16, 32, 64), upsampling="interpolate",
                 skip=False, norm="batch", final=None):
        super().__init__()
        self.skip = skip
        self.stem = conv_block(3, widths[0], norm=norm)
        self.down = nn.ModuleList(
            conv_block(widths[i], widths[i + 1], stride=2, norm=norm) for i in range(len(widths) - 1)
        )
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in reversed(range(len(widths) - 1)):
            self.up.append(Upsample(widths[i + 1], widths[i], upsampling, norm))
            cin = widths[i] * (2 if skip else 1)
            self.fuse.append(conv_block(cin, widths[i], norm=norm))
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.final = final
        self.size_multiple = 2 ** (len(widths) - 1)

    def forward(self, x):
        x = self.stem(x)
        skips = [x]
        for down in self.down:
            x = down(x)
            skips.append(x)
        skips.pop()
        for up, fuse in zip(self.up, self.fuse):
            x = up(x)
            if self.skip:
                x = torch.cat([x, skips.pop()], dim=1)
            x = fuse(x)
        x = self.head(x)
        if self.final == "softmax":
            x = torch.softmax(x, dim=1)
        elif self.final == "sigmoid":
            x = torch.sigmoid(x)
        return x


def unet(num_classes, widths=(16, 32, 64), upsampling="interpolate"):
    """U-Net for K-class segmentation, softmax output."""
    return EncoderDecoder(num_classes, widths, upsampling, skip=True, final="softmax")


class SegNet(nn.Module):
    """SegNet: the encoder max-pools and keeps the indices; the decoder max-unpools with them
    (upsampling that puts each value back where its maximum came from), then convolves."""

    def __init__(self, num_classes, widths=(16, 32, 64)):
        super().__init__()
        self.enc = nn.ModuleList()
        cin = 3
        for w in widths:
            self.enc.append(nn.Sequential(conv_block(cin, w), conv_block(w, w)))
            cin = w
        self.dec = nn.ModuleList()
        rev = list(reversed(widths))
        for i, w in enumerate(rev):
            out = rev[i + 1] if i + 1 < len(rev) else widths[0]
            self.dec.append(nn.Sequential(conv_block(w, w), conv_block(w, out)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        self.size_multiple = 2 ** len(widths)

    def forward(self, x):
        indices = []
        for block in self.enc:
            x = block(x)
            x, idx = F.max_pool2d(x, 2, 2, return_indices=True)
            indices.append(idx)
        for block in self.dec:
            x = F.max_unpool2d(x, indices.pop(), 2, 2)
            x = block(x)
        return torch.softmax(self.head(x), dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            conv_block(channels, channels, norm="instance"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x):
        return x + self.body(x)


class TransformerNet(nn.Module):
    """Johnson et al. 2016 image transformation network: a 9x9 stem, two stride-2 convs,
    residual blocks, two upsampling steps, a 9x9 output conv. Instance normalisation, as
    Ulyanov et al. showed works better for style transfer. Output 0..1 (sigmoid).

    `light=True` is the real-time variant: the stem itself downsamples (5x5, stride 2), a single
    learned upsampling returns to half resolution, and the last step is a bilinear upsampling
    followed by a 3x3 output conv, so no wide kernel runs at full resolution (about a third of
    the multiply-adds of the full network)."""

    def __init__(self, widths=(16, 32, 32), residual_blocks=3, upsampling="interpolate", light=False):
        super().__init__()
        a, b, c = widths
        if light:
            self.encoder = nn.Sequential(
                conv_block(3, a, stride=2, norm="instance", kernel=5),
                conv_block(a, c, stride=2, norm="instance"),
            )
            decoder = [Upsample(c, a, upsampling, norm="instance"), BilinearUp(),
                       nn.ReflectionPad2d(1), nn.Conv2d(a, 3, 3)]
        else:
            self.encoder = nn.Sequential(
                conv_block(3, a, norm="instance", kernel=9),
                conv_block(a, b, stride=2, norm="instance"),
                conv_block(b, c, stride=2, norm="instance"),
            )
            decoder = [Upsample(c, b, upsampling, norm="instance"),
                       Upsample(b, a, upsampling, norm="instance"),
                       nn.ReflectionPad2d(4), nn.Conv2d(a, 3, 9)]
        self.residual = nn.Sequential(*(ResidualBlock(c) for _ in range(residual_blocks)))
        self.decoder = nn.Sequential(*decoder)
        self.size_multiple = 4

    def forward(self, x):
        return torch.sigmoid(self.decoder(self.residual(self.encoder(x))))


class BilinearUp(nn.Module):
    """Doubles H and W by bilinear interpolation (no parameters)."""

    def forward(self, x):
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def anomaly_autoencoder(widths=(16, 32, 64, 64), upsampling="transposed"):
    """Reconstruction autoencoder without skips (a skip would let anomalies through):
    three stride-2 steps to a bottleneck at 1/8 resolution, output 0..1."""
    return EncoderDecoder(3, widths, upsampling, skip=False, final="sigmoid")


def parameter_count(net):
    return sum(p.numel() for p in net.parameters())
