#!/usr/bin/env python3
"""What a user would otherwise write: a Python loop with OpenCV and onnxruntime doing the
element's pre- and post-processing on every frame. Prints the same CSV line as
examples/bench.rs: runner,model,config,width,height,frames,fps,latency_ms,peak_rss_mb.

    python3 benches/python_loop.py --model models/style_mosaic.onnx --frame frame.rgb \
        --width 640 --height 360 [--scale 0.5] [--seconds 3]
"""
import argparse
import os
import resource
import time

import cv2
import numpy as np
import onnxruntime as ort


def metadata(session):
    return session.get_modelmeta().custom_metadata_map


def floats(meta, key, default):
    return np.array([float(v) for v in meta.get(key, default).split(",")], np.float32)


class Model:
    def __init__(self, path, scale, input_range):
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        meta = metadata(self.session)
        self.kind = meta.get("kind", "style")
        self.multiple = int(meta.get("size_multiple", "1"))
        self.range = 255.0 if (input_range or meta.get("input_range", "0-1")) == "0-255" else 1.0
        self.mean = floats(meta, "mean", "0,0,0")
        self.std = floats(meta, "std", "1,1,1")
        self.error_scale = float(meta.get("error_scale", "1"))
        inp = self.session.get_inputs()[0]
        self.name = inp.name
        self.fixed = [d if isinstance(d, int) else None for d in inp.shape[2:]]
        self.scale = scale

    def tensor_size(self, w, h):
        sw, sh = max(1, round(w * self.scale)), max(1, round(h * self.scale))
        m = self.multiple
        sw, sh = -(-sw // m) * m, -(-sh // m) * m
        return (self.fixed[1] or sw, self.fixed[0] or sh)

    def run(self, frame):
        h, w = frame.shape[:2]
        tw, th = self.tensor_size(w, h)
        if (tw, th) != (w, h):
            model_in = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_LINEAR)
        else:
            model_in = frame
        x = (model_in.astype(np.float32) * (self.range / 255.0) - self.mean) / self.std
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        y = self.session.run(None, {self.name: x})[0][0]
        return x[0], y, (tw, th)


def stylise(model, frame):
    _, y, _ = model.run(frame)
    out = np.clip(y.transpose(1, 2, 0) * (255.0 / model.range) + 0.5, 0, 255).astype(np.uint8)
    h, w = frame.shape[:2]
    if out.shape[:2] != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    frame[:] = out


PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                    [245, 130, 48], [145, 30, 180], [70, 240, 240]], np.uint8)


def segment(model, frame, alpha=0.5):
    _, y, _ = model.run(frame)
    ids = y.argmax(axis=0).astype(np.uint8)
    h, w = frame.shape[:2]
    if ids.shape != (h, w):
        ids = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST)
    colours = PALETTE[ids % len(PALETTE)]
    blended = cv2.addWeighted(frame, 1 - alpha, colours, alpha, 0)
    mask = ids != 0
    frame[mask] = blended[mask]


def ssim(a, b):
    blur = lambda v: cv2.GaussianBlur(v, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT_101)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))


def anomaly(model, frame, threshold=2.0, max_error=6.0, alpha=0.6):
    x, y, _ = model.run(frame)
    a = x * model.std[:, None, None] / model.range + model.mean[:, None, None] / model.range
    l2 = np.sqrt(((a - y) ** 2).sum(axis=0))
    s = sum(ssim(a[c], y[c]) for c in range(3)) / 3
    err = 0.5 * l2 + 0.5 * np.maximum(1 - s, 0)
    err = cv2.GaussianBlur(err, (7, 7), 1.0, borderType=cv2.BORDER_REFLECT_101) / model.error_scale
    h, w = frame.shape[:2]
    if err.shape != (h, w):
        err = cv2.resize(err, (w, h), interpolation=cv2.INTER_LINEAR)
    levels = np.clip(err / max_error * 255, 0, 255).astype(np.uint8)
    colours = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    blended = cv2.addWeighted(frame, 1 - alpha, colours, alpha, 0)
    mask = err >= threshold
    frame[mask] = blended[mask]
    return float(np.percentile(err, 99))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--frame", required=True, help="packed RGB frame from `bench frame`")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--input-range", default=None)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--config", default="")
    a = p.parse_args()
    model = Model(a.model, a.scale, a.input_range)
    source = np.fromfile(a.frame, np.uint8).reshape(a.height, a.width, 3)
    step = {"style": stylise, "segmentation": segment, "anomaly": anomaly}[model.kind]
    step(model, source.copy())  # warm-up
    frames, start = 0, time.perf_counter()
    while frames < 3 or time.perf_counter() - start < a.seconds:
        frame = source.copy()  # a new frame each time, as from a camera
        step(model, frame)
        frames += 1
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    name = os.path.splitext(os.path.basename(a.model))[0]
    print(f"python,{name},{a.config},{a.width},{a.height},{frames},{frames / elapsed:.2f},"
          f"{elapsed / frames * 1e3:.2f},{rss:.1f}")


if __name__ == "__main__":
    main()
