"""An anomalib model on the brick anomaly data: trained with anomalib's own training loop
(Engine, Folder datamodule), exported with anomalib's own ONNX export, evaluated through ONNX
Runtime on the same held-out samples as anomaly_brick.onnx:

    python3 -m models.anomalib_brick            # train, export, evaluate, write references
    python3 -m models.anomalib_brick --quick    # a few steps only, to check the plumbing

Needs anomalib (see VERSIONS_USED) beside this package's own requirements, e.g. in a venv:

    python3 -m venv /work/venv-anomalib
    /work/venv-anomalib/bin/pip install anomalib==2.7.0 torch torchvision onnx onnxruntime onnxscript scipy
    /work/venv-anomalib/bin/python -m models.anomalib_brick

It runs offline: nothing is downloaded at training or export time (see OFFLINE; the run that
made the shipped model ran under `unshare -n`, without any network).

- Model: anomalib's DRAEM (Zavrtanik et al. 2021, "a discriminatively trained reconstruction
  embedding"): a reconstructive encoder-decoder, trained to restore images with synthetic
  anomalies pasted in, and a discriminative U-Net that segments the anomaly from the input and
  its reconstruction. It needs no pretrained backbone. anomalib builds it with widths 128 and 64
  (97 M parameters); here the same anomalib classes are built with widths 16 and 8 (1.5 M), so
  that it trains on 2 CPU cores and ships small.
- Synthetic anomalies: anomalib's PerlinAnomalyGenerator, as in DRAEM; its anomaly source
  images (DTD in the paper, which anomalib would download) are our own: crops of the offline
  photos, the procedural mosaic and swirl images and the grass texture (never gravel or brick,
  which the evaluation's defects use).
- Data (models.data, as anomaly_brick): normal brick crops at 96x96 written as PNG files in
  anomalib's Folder layout: train/good (normal only), val/good and val/defect with val/mask
  (other seeds than the evaluation's), from which anomalib's post-processor takes its min-max
  normalisation and its F1-adaptive thresholds.
- Export: AnomalibModule.to_onnx (pre-processing, model and post-processing in one graph),
  input fixed at 96x96 (dynamic batch), opset 18; then our metadata is added (metadata_props).
- Evaluation: pixel AUROC of the exported model's anomaly_map on the 64 held-out defect samples
  of models.evaluate (seed 30001, 96x96), next to anomaly_brick.onnx on the very same arrays.

Versions of the run that made models/anomalib_brick.onnx: VERSIONS_USED (the script prints the
ones it runs with). Training is seeded (data, anomalib's synthetic anomalies, initialisation);
no second full run was made to check that it repeats bit for bit. `--onnx-only --checkpoint CKPT`
re-evaluates the shipped model and rewrites its references without training.
"""
import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np

from . import data, evaluate

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "anomalib_brick"
SIZE = 96  # evaluate.EVAL_SIZE; a multiple of 32 (DRAEM's discriminative net pools 5 times)
TRAIN_SEED = 40_001
VAL_SEED = 50_001
NORMAL_EVAL_SEED = 60_001  # held-out normal samples for the image-level AUROC
REFERENCE_SEEDS = {"normal": 7_001, "defects": 7_002}  # see reference_samples
RECON_WIDTH, DISC_WIDTH = 16, 8
VERSIONS_USED = "anomalib 2.7.0, torch 2.15.0, lightning 2.6.6, onnx 1.23.2, onnxruntime 1.32.0"

# Nothing may be fetched: no hub, no pretrained weights, no dataset (DRAEM's DTD download is
# skipped because its folder exists and holds our own images).
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "NO_ALBUMENTATIONS_UPDATE": "1"}


def versions():
    import anomalib
    import lightning
    import onnx
    import onnxruntime
    import torch

    return (f"anomalib {anomalib.__version__}, torch {torch.__version__.split('+')[0]}, "
            f"lightning {lightning.__version__}, onnx {onnx.__version__}, "
            f"onnxruntime {onnxruntime.__version__}")


# --- data in anomalib's Folder layout ------------------------------------------------------

def write_folder_dataset(root, train_count, val_count):
    """root/train/good, root/val/good, root/val/defect and root/val/mask (same file names)."""
    rng = np.random.default_rng(TRAIN_SEED)
    for i in range(train_count):
        data.save_png(os.path.join(root, "train", "good", f"{i:04d}.png"), data.normal_sample(rng, SIZE))
    rng = np.random.default_rng(VAL_SEED)
    for i in range(val_count):
        data.save_png(os.path.join(root, "val", "good", f"{i:04d}.png"), data.normal_sample(rng, SIZE))
        image, mask = data.add_defect(data.normal_sample(rng, SIZE), rng)
        data.save_png(os.path.join(root, "val", "defect", f"{i:04d}.png"), image)
        data.save_png(os.path.join(root, "val", "mask", f"{i:04d}.png"), np.stack([mask] * 3, -1).astype(np.float32))


def write_anomaly_sources(folder, count=48, seed=1):
    """DRAEM's anomaly source images (DTD in the paper): our own offline images, 128x128."""
    rng = np.random.default_rng(seed)
    sources = list(data.photos()) + [data.style_image("mosaic"), data.style_image("swirl")]
    grass = data.texture("grass")[..., None] * np.array([0.35, 0.75, 0.3], np.float32)
    sources.append(np.clip(grass * 1.3, 0, 1))
    for i in range(count):
        crop = data.random_crop(sources[i % len(sources)], 128, rng, scale=(0.2, 0.8))
        data.save_png(os.path.join(folder, f"{i:03d}.png"), crop)


# --- the model ------------------------------------------------------------------------------

def build_model(anomaly_sources, lr):
    """anomalib's Draem with narrower sub-networks (anomalib's own classes) and a one-cycle
    learning rate (anomalib's default is Adam 1e-4 for hundreds of epochs)."""
    import torch
    from anomalib.models import Draem
    from anomalib.models.image.draem.torch_model import (DiscriminativeSubNetwork,
                                                         ReconstructiveSubNetwork)

    class SmallDraem(Draem):
        def __init__(self):
            super().__init__(dtd_dir=anomaly_sources,
                             pre_processor=Draem.configure_pre_processor((SIZE, SIZE)),
                             evaluator=False, visualizer=False)
            self.model.reconstructive_subnetwork = ReconstructiveSubNetwork(base_width=RECON_WIDTH)
            self.model.discriminative_subnetwork = DiscriminativeSubNetwork(
                in_channels=6, out_channels=2, base_width=DISC_WIDTH)

        def configure_optimizers(self):
            optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=lr, total_steps=int(self.trainer.estimated_stepping_batches))
            return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    return SmallDraem()


def train(work, epochs, batch, lr, seed):
    from anomalib.data import Folder
    from anomalib.engine import Engine
    from lightning.pytorch import seed_everything

    seed_everything(seed, workers=True)
    datamodule = Folder(name="brick", root=os.path.join(work, "brick"), normal_dir="train/good",
                        abnormal_dir="val/defect", normal_test_dir="val/good", mask_dir="val/mask",
                        train_batch_size=batch, eval_batch_size=16, num_workers=0,
                        test_split_mode="from_dir", val_split_mode="same_as_test", seed=seed)
    model = build_model(os.path.join(work, "anomaly_sources"), lr)
    engine = Engine(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                    default_root_dir=os.path.join(work, "results"),
                    check_val_every_n_epoch=epochs, enable_progress_bar=True)
    start = time.time()
    engine.fit(model=model, datamodule=datamodule)  # validates once, at the end
    seconds = time.time() - start
    return model, seconds


# --- export ---------------------------------------------------------------------------------

def export(model, work, out_path, args, train_seconds):
    import onnx

    path = model.to_onnx(os.path.join(work, "export"), model_file_name=NAME, input_size=(SIZE, SIZE),
                         opset_version=18)
    # anomalib's export writes the graph and its weights beside it (.onnx.data); onnx.load reads
    # both, onnx.save writes one file.
    onnx_model = onnx.load(str(path))
    post = model.post_processor
    meta = {
        "kind": "anomaly", "input_range": "0-1", "mean": "0,0,0", "std": "1,1,1",
        "channel_order": "rgb",
        # The element's contract (README.md, "Model metadata"): the map and score outputs, and
        # error_scale 0.25, which puts anomalib's 0.5 thresholds (pred_mask = anomaly_map > 0.5,
        # pred_label = pred_score > 0.5) at the element's default threshold 2.
        "map_output": "anomaly_map", "score_output": "pred_score", "error_scale": "0.25",
        "source": f"anomalib Draem ({versions()})",
        "architecture": f"DRAEM, reconstructive base_width={RECON_WIDTH}, "
                        f"discriminative base_width={DISC_WIDTH}",
        "training": f"{args.epochs} epochs of {args.train_count} normal brick crops, batch {args.batch}, "
                    f"{SIZE}x{SIZE}, Perlin anomalies, {round(train_seconds)} s on CPU",
        "anomalib_pixel_threshold_raw": f"{float(post.pixel_threshold):.6f}",
        "anomalib_image_threshold_raw": f"{float(post.image_threshold):.6f}",
        "anomalib_pixel_min_max_raw": f"{float(post.pixel_min):.6f},{float(post.pixel_max):.6f}",
        "anomalib_image_min_max_raw": f"{float(post.image_min):.6f},{float(post.image_max):.6f}",
    }
    del onnx_model.metadata_props[:]
    for key, value in meta.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, out_path)
    return meta


def interface(path):
    import onnx

    def shape(v):
        return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]

    model = onnx.load(path)
    name = onnx.TensorProto.DataType.Name
    return {"inputs": [(v.name, shape(v), name(v.type.tensor_type.elem_type)) for v in model.graph.input],
            "outputs": [(v.name, shape(v), name(v.type.tensor_type.elem_type)) for v in model.graph.output],
            "opset": [(o.domain or "ai.onnx", o.version) for o in model.opset_import],
            "bytes": os.path.getsize(path)}


# --- evaluation -----------------------------------------------------------------------------

def run_outputs(session, x):
    """[N,3,H,W] 0..1 -> {output name: [N,...]} through ONNX Runtime, one image at a time."""
    names = [o.name for o in session.get_outputs()]
    outs = [session.run(None, {"input": xi[None].astype(np.float32)}) for xi in x]
    return {n: np.concatenate([o[k] for o in outs]) for k, n in enumerate(names)}


def evaluate_models(path, quick):
    count = 8 if quick else 64
    x, masks = data.anomaly_eval_set(evaluate.ANOMALY_EVAL_SEED, count, evaluate.EVAL_SIZE)
    rng = np.random.default_rng(NORMAL_EVAL_SEED)
    normals = np.stack([data.normal_sample(rng, SIZE).transpose(2, 0, 1) for _ in range(count)])
    out = run_outputs(evaluate.onnx_session(path), x)
    out_normal = run_outputs(evaluate.onnx_session(path), normals)
    amap = out["anomaly_map"].reshape(len(x), SIZE, SIZE)
    labels = np.r_[np.zeros(count, bool), np.ones(count, bool)]
    result = {
        "eval_images": count,
        "pixel_AUROC": round(evaluate.auroc(amap, masks), 4),
        "image_AUROC": round(evaluate.auroc(np.r_[out_normal["pred_score"].ravel(),
                                                  out["pred_score"].ravel()], labels), 4),
        "pixel_F1_at_0.5": round(f1(amap > 0.5, masks), 4),
        "normal_flagged_(pred_label)": int(out_normal["pred_label"].sum()),
        "defects_flagged_(pred_label)": int(out["pred_label"].sum()),
        "anomaly_map_range": [float(amap.min()), float(amap.max())],
        "anomaly_map_mean_on_defects": round(float(amap[masks].mean()), 4),
        "anomaly_map_mean_elsewhere": round(float(amap[~masks].mean()), 4),
    }
    # anomaly_brick.onnx on the same arrays, as models.evaluate measures it.
    brick = os.path.join(HERE, "anomaly_brick.onnx")
    meta = evaluate.metadata(brick)
    session = evaluate.onnx_session(brick)
    y = evaluate.run(session, x)
    weight = float(meta["error_ssim_weight"])
    err = evaluate.anomaly_error(x, y, weight)
    y_normal = evaluate.run(session, normals)
    score = lambda e: np.percentile(e.reshape(len(e), -1), 99, axis=1)  # the element's frame score
    result["anomaly_brick"] = {
        "pixel_AUROC_l2+ssim": round(evaluate.auroc(err, masks), 4),
        "pixel_AUROC_l2": round(evaluate.auroc(evaluate.anomaly_error(x, y, 0.0), masks), 4),
        "image_AUROC_p99": round(evaluate.auroc(np.r_[score(evaluate.anomaly_error(normals, y_normal, weight)),
                                                     score(err)], labels), 4),
    }
    pictures(x, amap, masks, os.path.join(os.path.dirname(os.path.abspath(path)), "pictures", f"{NAME}.png"))
    return result


def f1(pred, truth):
    tp = np.logical_and(pred, truth).sum()
    return float(2 * tp / max(pred.sum() + truth.sum(), 1))


def pictures(x, amap, masks, path):
    panels = []
    for i in range(4):
        heat = np.clip(amap[i] / 0.5, 0, 1)  # full red at anomalib's threshold
        panels.append(np.concatenate([x[i].transpose(1, 2, 0), np.stack([heat, heat * 0.3, 1 - heat], -1),
                                      np.stack([masks[i]] * 3, -1).astype(np.float32)], axis=0))
    evaluate.side_by_side(path, *panels)


def speed(path, runs=300):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, SIZE, SIZE), np.float32)
    for _ in range(20):
        session.run(None, {"input": x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - t)
    return {"ms_per_frame_median": round(1000 * float(np.median(times)), 3),
            "ms_per_frame_p90": round(1000 * float(np.percentile(times, 90)), 3), "threads": 2}


# --- references for the element's tests -----------------------------------------------------

def reference_image(seed, defects):
    rng = np.random.default_rng(seed)
    image = data.normal_sample(rng, SIZE)
    for _ in range(defects):
        image, _ = data.add_defect(image, rng)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def reference_samples(session):
    """{name: (seed, packed RGB uint8 HxWx3)}: normal brick at seed 7001 (which this model flags:
    a false positive, kept as such), the first normal brick from seed 7003 on that it calls
    normal, and brick with two defects (seed 7002)."""
    def label(rgb):
        x = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()
        return bool(session.run(["pred_label"], {"input": x})[0].ravel()[0])

    seed = REFERENCE_SEEDS["normal"] + 2
    while label(reference_image(seed, 0)):
        seed += 1
    return {"normal": (seed, reference_image(seed, 0)),
            "normal_flagged": (REFERENCE_SEEDS["normal"], reference_image(REFERENCE_SEEDS["normal"], 0)),
            "defects": (REFERENCE_SEEDS["defects"], reference_image(REFERENCE_SEEDS["defects"], 2))}


def write_references(path, model=None):
    """models/reference/brick_<name>_96x96.rgb (packed RGB uint8, row-major) and, for
    anomalib_brick.onnx run by ONNX Runtime's Python API on it (pixels / 255),
    anomalib_brick.<name>.anomaly_map.f32 (float32 little-endian, 96 x 96) and
    anomalib_brick.<name>.pred_mask.u8 (0/1), and anomalib_brick.json (scores, labels, shapes;
    with `model`, anomalib's own PyTorch module on the same input, and how far it is from ONNX
    Runtime)."""
    import onnxruntime as ort

    folder = os.path.join(HERE, "reference")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    summary = {"model": f"models/{NAME}.onnx",
               "input": f"[1,3,{SIZE},{SIZE}] float32, RGB, packed uint8 pixel / 255",
               "outputs": names, "onnxruntime": ort.__version__, "samples": {}}
    for kind, (seed, rgb) in reference_samples(session).items():
        rgb_name = f"brick_{kind}_{SIZE}x{SIZE}.rgb"
        rgb.tofile(os.path.join(folder, rgb_name))
        x = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()
        out = dict(zip(names, session.run(None, {"input": x})))
        out["anomaly_map"].astype("<f4").tofile(os.path.join(folder, f"{NAME}.{kind}.anomaly_map.f32"))
        out["pred_mask"].astype(np.uint8).tofile(os.path.join(folder, f"{NAME}.{kind}.pred_mask.u8"))
        entry = {
            "input": f"models/reference/{rgb_name}", "seed": seed,
            "defects": 2 if kind == "defects" else 0,
            "pred_score": float(out["pred_score"].ravel()[0]),
            "pred_label": bool(out["pred_label"].ravel()[0]),
            "anomaly_map": f"models/reference/{NAME}.{kind}.anomaly_map.f32",
            "anomaly_map_shape": list(out["anomaly_map"].shape),
            "anomaly_map_max": float(out["anomaly_map"].max()),
            "pred_mask": f"models/reference/{NAME}.{kind}.pred_mask.u8",
            "pred_mask_pixels": int(out["pred_mask"].sum()),
        }
        if model is not None:
            import torch

            with torch.no_grad():
                torch_out = model.eval()(torch.from_numpy(x))
                raw = model.model(torch.from_numpy(x))
            entry["anomalib_torch_pred_score"] = float(torch_out.pred_score.ravel()[0])
            entry["anomalib_torch_vs_onnxruntime_max_abs_diff_anomaly_map"] = float(np.abs(
                torch_out.anomaly_map.numpy().reshape(out["anomaly_map"].shape) - out["anomaly_map"]).max())
            entry["raw_score_before_normalisation"] = float(raw.pred_score.ravel()[0])
        summary["samples"][kind] = entry
    with open(os.path.join(folder, f"{NAME}.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return summary


def load_checkpoint(path, work):
    """The anomalib module of a Lightning checkpoint that this script's training wrote."""
    import torch

    write_anomaly_sources(os.path.join(work, "anomaly_sources"))
    model = build_model(os.path.join(work, "anomaly_sources"), 0.0)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["state_dict"])
    return model.eval()


# --- command line ---------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--train-count", type=int, default=1000, help="normal training crops")
    p.add_argument("--val-count", type=int, default=32, help="normal and defect validation crops, each")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=os.path.join(HERE, f"{NAME}.onnx"))
    p.add_argument("--work", help="working folder (data, export); default: a temporary one")
    p.add_argument("--quick", action="store_true", help="1 epoch of 16 crops: checks the plumbing")
    p.add_argument("--onnx-only", action="store_true",
                   help="no training: evaluate the existing --out model and write its references")
    p.add_argument("--checkpoint", help="with --onnx-only: the Lightning checkpoint of the training "
                                        "(results/.../model.ckpt), to compare anomalib's PyTorch output")
    args = p.parse_args(argv)
    os.environ.update(OFFLINE)
    if args.quick:
        args.epochs, args.train_count, args.val_count = 1, 16, 4

    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    work = args.work or tempfile.mkdtemp(prefix="anomalib_brick_")
    print("versions:", versions(), "| work folder:", work)
    if args.onnx_only:
        model = load_checkpoint(args.checkpoint, work) if args.checkpoint else None
        result = {"model": args.out, "metadata": evaluate.metadata(args.out)}
    else:
        write_folder_dataset(os.path.join(work, "brick"), args.train_count, args.val_count)
        write_anomaly_sources(os.path.join(work, "anomaly_sources"))
        model, seconds = train(work, args.epochs, args.batch, args.lr, args.seed)
        meta = export(model, work, args.out, args, seconds)
        result = {"model": args.out, "train_seconds": round(seconds), "metadata": meta}
    if model is not None:
        result["parameters"] = sum(p.numel() for p in model.model.parameters())
    result.update({"interface": interface(args.out), **evaluate_models(args.out, args.quick),
                   "speed": speed(args.out)})
    if args.out == os.path.join(HERE, f"{NAME}.onnx"):
        result["references"] = write_references(args.out, model)
    print(json.dumps(result, indent=1, default=str))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
