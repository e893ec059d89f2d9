"""Train the autoencoders, then export and evaluate them. From the repository root:

    python3 -m models.train style --style mosaic            # fast style transfer, one style
    python3 -m models.train segmentation                    # U-Net (or --arch segnet)
    python3 -m models.train anomaly                         # reconstruction autoencoder
    python3 -m models.train all                             # every trained model we ship

`all` retrains style_mosaic, style_mosaic_rt, style_swirl, segmentation_unet and anomaly_brick
(models.train.SHIPPED). The two other shipped models are not trained here: pencil_sketch.onnx
is hand-designed (`python3 models/make_pencil_sketch.py`), and segmentation_unet_int8.onnx is
quantised from segmentation_unet.onnx by `python3 -m models.quantize --models segmentation_unet`
(run it after `all`).

`--quick` runs a few iterations (a smoke test), `--device cuda` trains on an NVIDIA GPU.
Each run writes models/checkpoints/<name>.pt (re-exportable with `python3 -m models.export`),
models/<name>.onnx with its metadata, models/reference/<name>.output.f32, a picture in
models/pictures/, and prints what it measured as JSON (recorded in models/README.md).
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import data, evaluate, export, losses, nets, tasks

HERE = os.path.dirname(os.path.abspath(__file__))
CONTENT_LAYER = 1  # relu2_2, as Johnson et al.; the style uses relu1_2, relu2_2, relu3_3, relu4_3


def tensor(x, device):
    return torch.from_numpy(np.ascontiguousarray(x)).float().to(device)


def progress(task, iterations):
    return tqdm(range(iterations), desc=task, mininterval=2.0)


# --- style transfer -----------------------------------------------------------------------

def train_style(net, args, rng, device):
    from .vgg import VGG16Features

    vgg = VGG16Features().to(device)
    style = data.random_crop(data.style_image(args.style), args.size, np.random.default_rng(0),
                             scale=(1.0, 1.0))
    with torch.no_grad():
        style_grams = [losses.gram_matrix(f) for f in vgg(tensor(style.transpose(2, 0, 1)[None], device))]
    # The raw losses differ by orders of magnitude between layers and styles; dividing each by
    # the energy of its target makes every term a relative error, so that the weights mean the
    # same for any style image.
    style_energy = [float(g.pow(2).sum()) for g in style_grams]
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    history = []
    for _ in (bar := progress(f"style {args.style}", args.iterations)):
        x = tensor(data.content_batch(rng, args.batch, args.size), device)
        y = net(x)
        fy = vgg(y)
        with torch.no_grad():
            target = vgg(x)[CONTENT_LAYER]
        l_content = losses.content_loss(fy[CONTENT_LAYER], target) / target.pow(2).mean()
        l_style = sum(losses.style_loss([f], [g]) / e for f, g, e in zip(fy, style_grams, style_energy))
        l_tv = losses.total_variation(y)
        loss = args.content_weight * l_content + args.style_weight * l_style + args.tv_weight * l_tv
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss))
        bar.set_postfix(content=f"{float(l_content):.3g}", style=f"{float(l_style):.3g}",
                        tv=f"{float(l_tv):.3g}")
    return history, {}


# --- segmentation -------------------------------------------------------------------------

def train_segmentation(net, args, rng, device):
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.iterations)
    history = []
    for _ in (bar := progress(f"segmentation {args.arch}", args.iterations)):
        x, y = data.segmentation_batch(rng, args.batch, args.size)
        probs = net(tensor(x, device))
        loss = F.nll_loss(torch.log(probs.clamp_min(1e-6)), torch.from_numpy(y).to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(history[-20:]):.3f}")
    return history, {}


# --- anomaly ------------------------------------------------------------------------------

def train_anomaly(net, args, rng, device):
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.iterations)
    history = []
    for _ in (bar := progress("anomaly autoencoder", args.iterations)):
        x = tensor(np.stack([data.normal_sample(rng, args.size).transpose(2, 0, 1)
                             for _ in range(args.batch)]), device)
        y = net(x)
        # MSE alone blurs texture and misses texture swaps; SSIM keeps structure.
        loss = F.mse_loss(y, x) + args.ssim_weight * (1 - losses.ssim_map(y, x).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(history[-20:]):.4f}")
    # Calibration: the error level of normal data (99th percentile of the per-pixel error on
    # normal crops the network has not seen).
    net.eval()
    normal = np.stack([data.normal_sample(np.random.default_rng(20_000 + i), args.size).transpose(2, 0, 1)
                       for i in range(8 if args.quick else 48)])
    with torch.no_grad():
        recon = net(tensor(normal, device)).cpu().numpy()
    error = evaluate.anomaly_error(normal, recon, args.error_ssim)
    return history, {"error_scale": float(np.percentile(error, 99))}


# --- one run: train, checkpoint, export, evaluate -----------------------------------------

# The training loop of each task; how to build its network and what metadata it carries are
# in the task registry (models.tasks), shared with models.export.
TRAINERS = {"style": train_style, "segmentation": train_segmentation, "anomaly": train_anomaly}


def run_task(args):
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device(args.device)
    if args.quick:
        args.iterations = 3
    net = tasks.TASKS[args.task].build(args).to(device).train()
    start = time.time()
    history, extra = TRAINERS[args.task](net, args, rng, device)
    seconds = time.time() - start
    name = args.name or tasks.default_name(args)
    checkpoint = {"name": name, "args": vars(args), "extra": extra,
                  "state_dict": {k: v.cpu() for k, v in net.state_dict().items()}}
    os.makedirs(os.path.join(args.out, "checkpoints"), exist_ok=True)
    torch.save(checkpoint, os.path.join(args.out, "checkpoints", f"{name}.pt"))
    path = export.export_checkpoint(checkpoint, args.out)
    result = {"iterations": args.iterations, "train_seconds": round(seconds), "device": args.device,
              "parameters": nets.parameter_count(net), "first_loss": round(history[0], 4),
              "final_loss": round(float(np.mean(history[-20:])), 4), **extra}
    return {**evaluate.evaluate_model(path, quick=args.quick), **result}


# --- command line -------------------------------------------------------------------------

def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="3 iterations only (smoke test)")
    p.add_argument("--out", default=HERE, help="folder for the .onnx files (default: models/)")
    p.add_argument("--name", help="model file name (without .onnx)")
    sub = p.add_subparsers(dest="task", required=True)

    s = sub.add_parser("style", help="fast style transfer (Johnson et al.)")
    s.add_argument("--style", default="mosaic", choices=["mosaic", "swirl", "hubble"])
    s.add_argument("--iterations", type=int, default=500)
    s.add_argument("--batch", type=int, default=2)
    s.add_argument("--size", type=int, default=192)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--widths", type=int, nargs=3, default=[16, 32, 32])
    s.add_argument("--residual-blocks", type=int, default=3)
    s.add_argument("--light", action="store_true",
                   help="real-time variant: strided 5x5 stem, 3x3 output conv (see nets.TransformerNet)")
    s.add_argument("--upsampling", default="interpolate", choices=["interpolate", "transposed"])
    s.add_argument("--content-weight", type=float, default=1.0)
    s.add_argument("--style-weight", type=float, default=2.0)
    s.add_argument("--tv-weight", type=float, default=2.0)

    g = sub.add_parser("segmentation", help="U-Net or SegNet on the synthetic texture set")
    g.add_argument("--arch", default="unet", choices=["unet", "segnet"])
    g.add_argument("--upsampling", default="interpolate", choices=["interpolate", "transposed"])
    g.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128])
    g.add_argument("--iterations", type=int, default=1800)
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--size", type=int, default=96)
    g.add_argument("--lr", type=float, default=1e-2)

    a = sub.add_parser("anomaly", help="reconstruction autoencoder on normal brick")
    a.add_argument("--iterations", type=int, default=1500)
    a.add_argument("--batch", type=int, default=8)
    a.add_argument("--size", type=int, default=96)
    a.add_argument("--lr", type=float, default=5e-3)
    a.add_argument("--upsampling", default="transposed", choices=["interpolate", "transposed"])
    a.add_argument("--ssim-weight", type=float, default=1.0)
    a.add_argument("--error-ssim", type=float, default=0.5, help="weight of 1-SSIM in the error map")

    sub.add_parser("all", help="every trained model we ship, with its shipped settings (SHIPPED)")
    return p


# The trained models in models/*.onnx and the arguments that made them (the defaults, plus
# --light for the real-time variant). Not here: pencil_sketch (make_pencil_sketch.py, untrained)
# and segmentation_unet_int8 (quantize.py, from segmentation_unet).
SHIPPED = (["style", "--style", "mosaic"], ["style", "--style", "mosaic", "--light"],
           ["style", "--style", "swirl"], ["segmentation"], ["anomaly"])


def main(argv=None):
    args = parser().parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.task == "all":
        common = [f"--device={args.device}", f"--seed={args.seed}", f"--out={args.out}"]
        common += ["--quick"] if args.quick else []
        return [main(common + task) for task in SHIPPED]
    result = run_task(args)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
