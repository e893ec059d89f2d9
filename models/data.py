"""Training data, all offline and reproducible from a seed.

- Real photographs: scikit-image's bundled colour images and scikit-learn's china.jpg and
  flower.jpg (see models/README.md for their licences).
- Style images: a procedural Voronoi "stained glass" mosaic and a procedural "swirl" painting
  (our own code), and the Hubble Deep Field (NASA/ESA, public domain), bundled with scikit-image.
- Segmentation: scikit-image's brick, grass and gravel textures (public domain / CC0) pasted as
  random shapes, randomly tinted, onto random photo crops: 4 classes.
- Anomaly: "normal" = the brick texture; defects = colour blobs, scratches and patches of
  another texture, drawn procedurally with their masks.

Images are float32 HxWx3 in 0..1; labels are int64 HxW; masks are bool HxW.
"""
import os
from functools import lru_cache

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "immunohistochemistry")
TEXTURES = ("brick", "grass", "gravel")
CLASS_NAMES = ("background",) + TEXTURES
CLASS_COLOURS = ("0,0,0", "200,60,40", "60,190,60", "150,150,160")


def _to_rgb01(img):
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3].astype(np.float32)
    return img / 255.0 if img.max() > 1.0 else img


@lru_cache(maxsize=None)
def photos():
    """The real photographs available offline, as a tuple of HxWx3 float arrays."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    out = []
    for name in PHOTOS:
        try:
            out.append(_to_rgb01(getattr(skdata, name)()))
        except Exception:  # not inside this scikit-image wheel (would need a download)
            pass
    out.extend(_to_rgb01(img) for img in load_sample_images().images)
    if not out:
        raise RuntimeError("no photographs found: install scikit-image and scikit-learn")
    return tuple(out)


@lru_cache(maxsize=None)
def texture(name):
    from skimage import data as skdata

    return _to_rgb01(getattr(skdata, name)())[..., 0]  # grey


def random_crop(img, size, rng, scale=(0.5, 1.0)):
    """A random square crop of a random fraction of the shorter side, resized to `size`."""
    from skimage.transform import resize

    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(*scale))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = img[y:y + side, x:x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return resize(crop, (size, size) + crop.shape[2:], anti_aliasing=True).astype(np.float32)


def content_batch(rng, batch, size):
    """Photo crops for style training: [N,3,S,S]."""
    pics = photos()
    return np.stack([random_crop(pics[rng.integers(len(pics))], size, rng).transpose(2, 0, 1)
                     for _ in range(batch)])


# --- style images -------------------------------------------------------------------------

def voronoi_mosaic(size=512, cells=90, seed=7):
    """A stained-glass mosaic: Voronoi cells in a saturated palette, dark leading between them."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (cells, 2))
    palette = np.array([[0.85, 0.15, 0.1], [0.95, 0.7, 0.1], [0.1, 0.35, 0.8],
                        [0.1, 0.6, 0.3], [0.55, 0.15, 0.6], [0.95, 0.95, 0.85]], np.float32)
    colours = palette[rng.integers(len(palette), size=cells)] * rng.uniform(0.7, 1.0, (cells, 1))
    yy, xx = np.mgrid[0:size, 0:size]
    d = (xx[..., None] - points[:, 0]) ** 2 + (yy[..., None] - points[:, 1]) ** 2
    order = np.argsort(d, axis=-1)
    nearest, second = order[..., 0], order[..., 1]
    d1 = np.take_along_axis(d, nearest[..., None], -1)[..., 0]
    d2 = np.take_along_axis(d, second[..., None], -1)[..., 0]
    img = colours[nearest]
    edge = (np.sqrt(d2) - np.sqrt(d1)) < 3.0  # leading between cells
    img[edge] = 0.08
    grain = rng.normal(0, 0.03, img.shape).astype(np.float32)
    return np.clip(img + grain, 0, 1).astype(np.float32)


def swirl_painting(size=384, seed=11, steps=24):
    """Brush strokes along a swirling flow field: line integral convolution of white noise along
    a field of a few random vortices, coloured with a night-sky palette (deep blue to yellow)."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    vx, vy = np.zeros_like(xx), np.zeros_like(yy)
    for _ in range(6):
        cx, cy = rng.uniform(0, size, 2)
        strength = rng.choice([-1, 1]) * rng.uniform(0.5, 1.0)
        dx, dy = xx - cx, yy - cy
        r2 = dx * dx + dy * dy + (0.05 * size) ** 2
        fall = np.exp(-r2 / (2 * (0.3 * size) ** 2))
        vx += strength * -dy / np.sqrt(r2) * fall
        vy += strength * dx / np.sqrt(r2) * fall
    norm = np.sqrt(vx * vx + vy * vy) + 1e-6
    vx, vy = vx / norm, vy / norm
    noise = gaussian_filter(rng.random((size, size)).astype(np.float32), 1.0)
    strokes = np.zeros_like(noise)
    for direction in (1, -1):  # integrate along the field both ways
        px, py = xx.copy(), yy.copy()
        for _ in range(steps):
            strokes += map_coordinates(noise, [py, px], order=1, mode="reflect")
            ux = map_coordinates(vx, [py, px], order=1, mode="reflect")
            uy = map_coordinates(vy, [py, px], order=1, mode="reflect")
            px, py = px + direction * ux, py + direction * uy
    strokes = (strokes - strokes.min()) / (strokes.max() - strokes.min())
    strokes = np.clip((strokes - 0.5) * 3.0 + 0.5, 0, 1)  # stronger stroke contrast
    field = gaussian_filter(rng.random((size, size)), size / 10)
    field = (field - field.min()) / (field.max() - field.min())
    palette = np.array([[0.05, 0.1, 0.35], [0.1, 0.3, 0.7], [0.3, 0.6, 0.8],
                        [0.95, 0.85, 0.3], [1.0, 0.95, 0.7]], np.float32)
    t = np.clip(0.65 * field + 0.35 * strokes, 0, 1) * (len(palette) - 1)
    lo = np.floor(t).astype(int).clip(0, len(palette) - 2)
    frac = (t - lo)[..., None]
    return (palette[lo] * (1 - frac) + palette[lo + 1] * frac).astype(np.float32)


def style_image(name):
    if name == "mosaic":
        return voronoi_mosaic()
    if name == "swirl":
        return swirl_painting()
    if name == "hubble":
        from skimage import data as skdata

        return _to_rgb01(skdata.hubble_deep_field())
    raise ValueError(f"unknown style '{name}' (mosaic, swirl, hubble)")


# --- segmentation -------------------------------------------------------------------------

def _random_shape_mask(size, rng):
    """An ellipse or a convex-ish polygon covering 5-30% of the image."""
    from skimage.draw import ellipse, polygon

    mask = np.zeros((size, size), bool)
    cy, cx = rng.uniform(0.15, 0.85, 2) * size
    if rng.random() < 0.5:
        ry, rx = rng.uniform(0.1, 0.3, 2) * size
        rr, cc = ellipse(cy, cx, ry, rx, shape=mask.shape, rotation=rng.uniform(0, np.pi))
    else:
        n = rng.integers(3, 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(0.1, 0.3, n) * size
        rr, cc = polygon(cy + radius * np.sin(angles), cx + radius * np.cos(angles), mask.shape)
    mask[rr, cc] = True
    return mask


def _tinted_texture(name, size, rng):
    grey = random_crop(texture(name)[..., None], size, rng, scale=(0.3, 0.8))[..., 0]
    tint = rng.uniform(0.5, 1.0, 3).astype(np.float32)
    return np.clip(grey[..., None] * tint * rng.uniform(0.8, 1.3), 0, 1)


def segmentation_sample(rng, size=128, max_shapes=3):
    """(image HxWx3, labels HxW): a photo with 1..max_shapes textured shapes pasted on it."""
    pics = photos()
    image = random_crop(pics[rng.integers(len(pics))], size, rng)
    labels = np.zeros((size, size), np.int64)
    for _ in range(rng.integers(1, max_shapes + 1)):
        k = rng.integers(1, len(CLASS_NAMES))
        mask = _random_shape_mask(size, rng)
        image[mask] = _tinted_texture(CLASS_NAMES[k], size, rng)[mask]
        labels[mask] = k
    return image, labels


def segmentation_batch(rng, batch, size):
    xs, ys = zip(*(segmentation_sample(rng, size) for _ in range(batch)))
    return np.stack([x.transpose(2, 0, 1) for x in xs]), np.stack(ys)


# --- anomaly ------------------------------------------------------------------------------

BRICK_TINT = np.array([0.75, 0.42, 0.32], np.float32)


def normal_sample(rng, size=128, texture_scale=None):
    """A crop of the "normal" surface: the brick texture, brick-coloured, lighting varied.
    Training crops 0.4-0.7 of the 512-pixel texture to `size`; `texture_scale` (texture pixels
    per output pixel) keeps that scale at another size, tiling the seamless texture."""
    if texture_scale is None:
        grey = random_crop(texture("brick")[..., None], size, rng, scale=(0.4, 0.7))[..., 0]
    else:
        from skimage.transform import resize

        side = int(round(size * texture_scale))
        tiled = np.tile(texture("brick"), (side // 512 + 2, side // 512 + 2))
        y, x = rng.integers(0, 512, 2)
        grey = resize(tiled[y:y + side, x:x + side], (size, size), anti_aliasing=True).astype(np.float32)
    light = rng.uniform(0.85, 1.15)
    return np.clip((0.25 + 0.9 * grey[..., None]) * BRICK_TINT * light, 0, 1).astype(np.float32)


def add_defect(image, rng):
    """Draws one defect (colour blob, scratch, or a patch of gravel) and returns (image, mask)."""
    from skimage.draw import ellipse, line_aa

    size = image.shape[0]
    image = image.copy()
    mask = np.zeros((size, size), bool)
    kind = rng.integers(3)
    if kind == 0:  # a stain of another colour
        rr, cc = ellipse(*rng.uniform(0.2, 0.8, 2) * size, *rng.uniform(0.04, 0.12, 2) * size,
                         shape=mask.shape)
        mask[rr, cc] = True
        image[mask] = image[mask] * 0.3 + rng.uniform(0, 1, 3).astype(np.float32) * 0.7
    elif kind == 1:  # a scratch: a bright or dark line a few pixels wide
        r0, c0, r1, c1 = (rng.uniform(0.1, 0.9, 4) * size).astype(int)
        value = rng.choice([0.05, 0.95])
        for off in range(-1, 2):
            rr, cc, _ = line_aa(r0 + off, c0, r1 + off, c1)
            keep = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
            mask[rr[keep], cc[keep]] = True
        image[mask] = value
    else:  # a patch of a different surface
        rr, cc = ellipse(*rng.uniform(0.25, 0.75, 2) * size, *rng.uniform(0.08, 0.18, 2) * size,
                         shape=mask.shape)
        mask[rr, cc] = True
        other = random_crop(texture("gravel")[..., None], size, rng)[..., 0]
        image[mask] = ((0.25 + 0.9 * other[..., None]) * BRICK_TINT)[mask]
    return np.clip(image, 0, 1), mask


def anomaly_eval_set(seed, count, size=128):
    """(images [N,3,S,S], masks [N,S,S]) of normal samples, each with one defect."""
    rng = np.random.default_rng(seed)
    xs, ms = zip(*(add_defect(normal_sample(rng, size), rng) for _ in range(count)))
    return np.stack([x.transpose(2, 0, 1) for x in xs]), np.stack(ms)


def save_png(path, image01):
    from PIL import Image

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    arr = np.asarray(image01)
    if arr.ndim == 3 and arr.shape[0] == 3:
        arr = arr.transpose(1, 2, 0)
    Image.fromarray(np.clip(np.round(arr * 255), 0, 255).astype(np.uint8)).save(path)
