"""Super-resolution networks (x2 by default). Every one takes the LOW-RES image, [N,C,H,W] in
0..1 at any H and W, and returns [N,C,2H,2W] clamped to 0..1 (an ONNX Clip).

- `ESPCN` (Shi et al. 2016): all convolutions run on the low-res image; the last one gives
  scale^2 values per pixel that a sub-pixel convolution (PixelShuffle, ONNX DepthToSpace)
  rearranges into the high-res image. `residual=True` adds a fixed bicubic upsampling of the
  input (global residual), so the network only learns the missing detail.
- `VDSR` (Kim et al. 2016), small: a fixed bicubic upsampling inside the graph, then a stack of
  3x3 convolutions at HIGH resolution that predict the residual added to it.
- `PerChannel` runs a luma network on each of R, G and B (the RGB variant).

The bicubic upsampling (`BicubicUp`) is Keys' cubic with a = -0.5 (Pillow's and MATLAB's
BICUBIC, the kernel of the degradation), pixel centres at half-pixel positions, as a fixed
5x5 convolution per output phase and a PixelShuffle; the image edge is replicated (Pillow
instead renormalises the taps that fall outside, which changes the outer 3 output pixels).
"""
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def cubic(x, a=-0.5):
    """Keys' cubic convolution kernel."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    if x < 2:
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
    return 0.0


def phase_taps(scale=2, a=-0.5):
    """[scale, taps] 1D weights: output pixel scale*i + p, centred at input position
    i + (p + 0.5) / scale - 0.5, from input pixels i - R .. i + R (R = 2 for x2)."""
    radius = 2 * ((scale + 1) // 2)  # covers the 4 taps of every phase
    taps = np.zeros((scale, 2 * radius + 1))
    for p in range(scale):
        centre = (p + 0.5) / scale - 0.5
        for j, offset in enumerate(range(-radius, radius + 1)):
            taps[p, j] = cubic(offset - centre, a)
    return taps / taps.sum(axis=1, keepdims=True)


class BicubicUp(nn.Module):
    """Fixed bicubic upsampling by an integer `scale` (no parameters): per channel, one
    (2R+1)x(2R+1) convolution per output phase on the edge-replicated image, then PixelShuffle."""

    def __init__(self, channels=1, scale=2):
        super().__init__()
        taps = phase_taps(scale)
        self.radius = taps.shape[1] // 2
        kernels = np.einsum("pi,qj->pqij", taps, taps).reshape(scale * scale, 1, *[taps.shape[1]] * 2)
        weight = torch.from_numpy(np.tile(kernels, (channels, 1, 1, 1))).float()
        self.register_buffer("weight", weight)
        self.channels, self.scale = channels, scale

    def phases(self, x):
        """[N,C,H,W] -> [N,C*scale^2,H,W], before the PixelShuffle."""
        r = self.radius
        return F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), self.weight, groups=self.channels)

    def forward(self, x):
        return F.pixel_shuffle(self.phases(x), self.scale)


class ESPCN(nn.Module):
    """Conv k0 (C -> w0), ReLU, conv 3x3 (w_i -> w_i+1), ReLU, ..., conv 3x3 (-> C*scale^2),
    PixelShuffle; with `residual`, plus the bicubic upsampling, added before the shuffle (the
    same DepthToSpace serves both)."""

    def __init__(self, widths=(32, 16), channels=1, scale=2, first_kernel=5, residual=True):
        super().__init__()
        layers, cin = [], channels
        for i, w in enumerate(widths):
            k = first_kernel if i == 0 else 3
            layers += [nn.Conv2d(cin, w, k, padding=k // 2), nn.ReLU(inplace=True)]
            cin = w
        self.body = nn.Sequential(*layers)
        self.tail = nn.Conv2d(cin, channels * scale * scale, 3, padding=1)
        self.bicubic = BicubicUp(channels, scale) if residual else None
        if residual:  # start as plain bicubic
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)
        self.scale = scale

    def forward(self, x):
        y = self.tail(self.body(x))
        if self.bicubic is not None:
            y = y + self.bicubic.phases(x)
        return torch.clamp(F.pixel_shuffle(y, self.scale), 0.0, 1.0)


class VDSR(nn.Module):
    """Bicubic upsampling in the graph, then `depth` 3x3 convolutions (ReLU between) of `width`
    channels at high resolution predicting the residual (Kim et al. 2016, fewer and narrower
    layers than their 20 x 64)."""

    def __init__(self, depth=8, width=32, channels=1, scale=2):
        super().__init__()
        self.up = BicubicUp(channels, scale)
        layers, cin = [], channels
        for _ in range(depth - 1):
            conv = nn.Conv2d(cin, width, 3, padding=1)
            # He initialisation, as Kim et al.: with PyTorch's default the signal fades through
            # the stack and the first try (6000 iterations) never left bicubic.
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            cin = width
        last = nn.Conv2d(cin, channels, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.body = nn.Sequential(*layers, last)
        self.scale = scale

    def forward(self, x):
        up = self.up(x)
        return torch.clamp(up + self.body(up), 0.0, 1.0)


class PerChannel(nn.Module):
    """Runs a one-channel network on each channel of [N,C,H,W] (as a batch of N*C planes)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.scale = net.scale

    def forward(self, x):
        n, c, h, w = x.shape
        y = self.net(x.reshape(n * c, 1, h, w))
        return y.reshape(n, c, y.shape[2], y.shape[3])


def build(arch, widths=(32, 16), depth=8, width=32, residual=True, scale=2):
    if arch == "espcn":
        return ESPCN(tuple(widths), scale=scale, residual=residual)
    if arch == "vdsr":
        return VDSR(depth, width, scale=scale)
    raise ValueError(f"unknown architecture '{arch}' (espcn, vdsr)")


def describe(arch, widths=(32, 16), depth=8, width=32, residual=True, scale=2):
    if arch == "espcn":
        chain = " -> ".join(str(w) for w in widths)
        return (f"ESPCN x{scale}: conv5x5 1 -> {chain}, conv3x3 -> {scale * scale}, ReLU, PixelShuffle"
                + (", + bicubic (global residual)" if residual else ""))
    return (f"VDSR-style x{scale}: bicubic x{scale} in the graph, then {depth} conv3x3 of width {width} "
            "at high resolution (ReLU) predicting the residual")


def parameter_count(net):
    return sum(p.numel() for p in net.parameters())


def macs(net, height=360, width=640, channels=1):
    """Multiply-accumulates of all convolutions (the fixed bicubic one included) for one
    low-res input of height x width, counted with forward hooks."""
    total = [0]

    def hook(module, inputs, output):
        k = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
        total[0] += output.numel() * k

    def bicubic_hook(module, inputs, output):
        total[0] += inputs[0].numel() * module.scale ** 2 * module.weight[0].numel()

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(bicubic_hook) for m in net.modules() if isinstance(m, BicubicUp)]
    try:
        with torch.no_grad():
            # ESPCN calls BicubicUp.phases directly, not forward: count it by hand then.
            net.eval()(torch.zeros(1, channels, height, width))
        for m in net.modules():
            if isinstance(m, ESPCN) and m.bicubic is not None:
                total[0] += height * width * m.bicubic.weight.shape[0] * m.bicubic.weight[0].numel()
    finally:
        for h in handles:
            h.remove()
    return total[0]
