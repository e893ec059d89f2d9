"""Sample inputs for the elements (README pictures and pipeline tests), with what the shipped
models give on them in Python:

    python3 -m models.samples        # writes docs/samples/

- scene.png: a synthetic segmentation scene (a real photo with texture shapes; the first seed
  from 4242 on that shows all three textures),
  scene.labels.u8 its ground truth, scene.classes.u8 the argmax of segmentation_unet.onnx
  run by ONNX Runtime on the PNG's pixels.
- brick.png: normal brick with two defects (seed 5151), brick.mask.u8 where they are,
  brick.error.f32 the error map onnxanomaly must compute with anomaly_brick.onnx.
- results.json: pixel accuracy and the anomaly score, as Python measures them.
"""
import json
import os

import numpy as np
from PIL import Image

from . import data, evaluate

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "docs", "samples")
SIZE = 256


def pixels(path):
    """The PNG's pixels as the element sees them: [1,3,H,W] 0..1."""
    rgb = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
    return rgb.transpose(2, 0, 1)[None].copy()


def main():
    os.makedirs(OUT, exist_ok=True)
    results = {}

    seed = 4242
    while True:  # the first scene from this seed on that shows all three textures
        scene, labels = data.segmentation_sample(np.random.default_rng(seed), SIZE, max_shapes=4)
        if len(np.unique(labels)) == 4:
            break
        seed += 1
    results["scene_seed"] = seed
    data.save_png(os.path.join(OUT, "scene.png"), scene)
    labels.astype(np.uint8).tofile(os.path.join(OUT, "scene.labels.u8"))
    model = os.path.join(HERE, "segmentation_unet.onnx")
    classes = evaluate.run(evaluate.onnx_session(model), pixels(os.path.join(OUT, "scene.png"))[0:1])
    classes = classes.argmax(axis=1)[0].astype(np.uint8)
    classes.tofile(os.path.join(OUT, "scene.classes.u8"))
    results["scene_pixel_accuracy"] = float((classes == labels).mean())

    rng = np.random.default_rng(5151)
    # At the training scale: 0.55 x 512 texture pixels over 96 output pixels.
    brick = data.normal_sample(rng, SIZE, texture_scale=0.55 * 512 / 96)
    mask = np.zeros((SIZE, SIZE), bool)
    for _ in range(2):
        brick, m = data.add_defect(brick, rng)
        mask |= m
    data.save_png(os.path.join(OUT, "brick.png"), brick)
    mask.astype(np.uint8).tofile(os.path.join(OUT, "brick.mask.u8"))
    model = os.path.join(HERE, "anomaly_brick.onnx")
    meta = evaluate.metadata(model)
    x = pixels(os.path.join(OUT, "brick.png"))
    y = evaluate.run(evaluate.onnx_session(model), x)
    errors = evaluate.element_error_map(x[0], y[0], float(meta["error_ssim_weight"]), float(meta["error_scale"]))
    errors.astype("<f4").tofile(os.path.join(OUT, "brick.error.f32"))
    results["brick_score_p99"] = float(np.percentile(errors, 99))
    results["brick_pixel_AUROC"] = evaluate.auroc(errors, mask)

    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
