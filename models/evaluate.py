"""Quality measures and before/after pictures, computed on the exported ONNX models with ONNX
Runtime (so they measure exactly what the elements run):

    python3 -m models.evaluate models/style_mosaic.onnx models/segmentation_unet.onnx ...

prints one JSON object per model and writes its picture to models/pictures/.
"""
import argparse
import json
import os

import numpy as np

from . import data


def onnx_session(path):
    import onnxruntime as ort

    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def run(session, images):
    """images [N,3,H,W] float 0..1 -> the first output, one image at a time."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[None].astype(np.float32)})[0] for x in images])


def pad_to(x, multiple):
    h, w = x.shape[-2:]
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, -h % multiple), (0, -w % multiple)], mode="edge")


def mean_iou(pred, labels, classes):
    ious = []
    for k in range(classes):
        inter = np.logical_and(pred == k, labels == k).sum()
        union = np.logical_or(pred == k, labels == k).sum()
        if union:
            ious.append(inter / union)
    return float(np.mean(ious)), ious


def auroc(scores, positives):
    """Area under the ROC curve (rank statistic, ties averaged), without scikit-learn."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, np.float64).ravel()
    positives = np.asarray(positives, bool).ravel()
    n_pos, n_neg = positives.sum(), (~positives).sum()
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def anomaly_error(x, y, ssim_weight=0.5):
    """Per-pixel anomaly error [N,H,W]: L2 over channels, blended with 1 - SSIM."""
    import torch

    from .losses import ssim_map

    l2 = np.sqrt(((x - y) ** 2).sum(axis=1))
    if ssim_weight == 0:
        return l2
    dssim = 1 - ssim_map(torch.from_numpy(x).float(), torch.from_numpy(y).float())[:, 0].numpy()
    return (1 - ssim_weight) * l2 + ssim_weight * np.clip(dssim, 0, None)


def _blur_reflect101(img, sigma):
    """Separable Gaussian blur, radius ceil(3 sigma), borders mirrored without repeating the
    edge pixel: the smoothing onnxanomaly applies to its error map."""
    radius = int(np.ceil(3 * sigma))
    k = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    k /= k.sum()
    padded = np.pad(img, radius, mode="reflect")  # numpy's "reflect" does not repeat the edge
    rows = sum(w * padded[radius:-radius, i:i + img.shape[1]] for i, w in enumerate(k))
    rows = np.pad(rows, ((radius, radius), (0, 0)), mode="reflect")
    return sum(w * rows[i:i + img.shape[0]] for i, w in enumerate(k))


def element_error_map(x, y, ssim_weight, error_scale):
    """The error map onnxanomaly computes for one image pair [3,H,W] in 0..1: the anomaly error,
    smoothed (sigma 1), divided by error_scale. Written here in numpy for the element's test."""
    err = anomaly_error(x[None], y[None], ssim_weight)[0]
    return _blur_reflect101(err.astype(np.float64), 1.0) / error_scale


def side_by_side(path, *images):
    """Writes HxWx3 (or 3xHxW) 0..1 images next to each other as one PNG."""
    ims = [im.transpose(1, 2, 0) if im.shape[0] == 3 else im for im in images]
    h = max(im.shape[0] for im in ims)
    ims = [np.pad(im, ((0, h - im.shape[0]), (0, 4), (0, 0)), constant_values=1.0) for im in ims]
    data.save_png(path, np.concatenate(ims, axis=1))


def showcase_photo(size=256):
    """A fixed photo crop (the astronaut's neighbour, coffee) for before/after pictures."""
    from skimage.transform import resize

    img = data.photos()[1]  # coffee
    h, w = img.shape[:2]
    side = min(h, w)
    crop = img[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]
    return resize(crop, (size, size), anti_aliasing=True).astype(np.float32)


def palette_image(labels, colours):
    table = np.array([[int(v) / 255 for v in c.split(",")] for c in colours], np.float32)
    return table[labels]


# --- per kind -----------------------------------------------------------------------------

SEGMENTATION_EVAL_SEED = 10_001
ANOMALY_EVAL_SEED = 30_001
EVAL_SIZE = 96


def metadata(path):
    import onnx

    return {p.key: p.value for p in onnx.load(path).metadata_props}


def evaluate_style(path, meta, pictures, quick):
    photo = showcase_photo()
    out = run(onnx_session(path), photo.transpose(2, 0, 1)[None])[0]
    style = data.style_image(meta["style"])
    name = os.path.splitext(os.path.basename(path))[0]
    side_by_side(os.path.join(pictures, f"{name}.png"), photo, style[:256, :256], out)
    return {}


def evaluate_segmentation(path, meta, pictures, quick):
    classes = len(meta["class_names"].split(","))
    rng = np.random.default_rng(SEGMENTATION_EVAL_SEED)
    x, y = data.segmentation_batch(rng, 8 if quick else 64, EVAL_SIZE)
    pred = run(onnx_session(path), x).argmax(axis=1)
    miou, ious = mean_iou(pred, y, classes)
    colours = meta["class_colors"].split(";")
    name = os.path.splitext(os.path.basename(path))[0]
    panels = [np.concatenate([x[i].transpose(1, 2, 0), palette_image(y[i], colours),
                              palette_image(pred[i], colours)], axis=0) for i in range(4)]
    side_by_side(os.path.join(pictures, f"{name}.png"), *panels)
    return {"mIoU": round(miou, 4), "per_class_IoU": [round(float(v), 4) for v in ious],
            "pixel_accuracy": round(float((pred == y).mean()), 4), "eval_images": len(x)}


def evaluate_anomaly(path, meta, pictures, quick):
    scale = float(meta["error_scale"])
    weight = float(meta.get("error_ssim_weight", 0.5))
    x, masks = data.anomaly_eval_set(ANOMALY_EVAL_SEED, 8 if quick else 64, EVAL_SIZE)
    y = run(onnx_session(path), x)
    results = {}
    for label, w in (("l2", 0.0), ("l2+ssim", weight)):
        results[f"pixel_AUROC_{label}"] = round(auroc(anomaly_error(x, y, w), masks), 4)
    err = anomaly_error(x, y, weight)
    normal_level = err[~masks].mean() / scale
    results["mean_error_on_defects_over_scale"] = round(float(err[masks].mean() / scale), 3)
    results["mean_error_elsewhere_over_scale"] = round(float(normal_level), 3)
    name = os.path.splitext(os.path.basename(path))[0]
    panels = []
    for i in range(4):
        heat = np.clip(err[i] / (2 * scale), 0, 1)
        panels.append(np.concatenate([x[i].transpose(1, 2, 0), y[i].transpose(1, 2, 0),
                                      np.stack([heat, heat * 0.3, 1 - heat], -1),
                                      np.stack([masks[i]] * 3, -1).astype(np.float32)], axis=0))
    side_by_side(os.path.join(pictures, f"{name}.png"), *panels)
    return {"eval_images": len(x), **results}


EVALUATORS = {"style": evaluate_style, "segmentation": evaluate_segmentation, "anomaly": evaluate_anomaly}


def evaluate_model(path, pictures=None, quick=False):
    meta = metadata(path)
    pictures = pictures or os.path.join(os.path.dirname(os.path.abspath(path)), "pictures")
    return {"model": path, **EVALUATORS[meta["kind"]](path, meta, pictures, quick)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="exported .onnx files")
    p.add_argument("--quick", action="store_true", help="a few evaluation images only")
    args = p.parse_args(argv)
    results = [evaluate_model(m, quick=args.quick) for m in args.models]
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
