"""The task registry: for each task (style, segmentation, anomaly), how to build its network from
a checkpoint's arguments, the element metadata its model carries, the name of its output and
the default model name.

Both models.export (which re-exports a checkpoint) and models.train (which trains, then
exports) use it; it imports neither, so the import graph is tasks <- export <- train, with no
cycle. The training loops stay in models.train (they need the loss network and the data).
torch is imported only when a network is built (through models.nets), so this module and
models.export load without it.
"""
from typing import Callable, NamedTuple

from . import data


class Task(NamedTuple):
    build: Callable  # build(args) -> torch.nn.Module
    metadata: Callable  # metadata(args, net, extra) -> the task's own metadata keys
    output: str  # the ONNX output name


# --- style transfer -----------------------------------------------------------------------

def build_style(args):
    from . import nets

    return nets.TransformerNet(widths=tuple(args.widths), residual_blocks=args.residual_blocks,
                               upsampling=args.upsampling, light=getattr(args, "light", False))


def style_metadata(args, net, extra):
    return {"kind": "style", "output_range": "0-1", "style": args.style,
            "architecture": f"TransformerNet{'-light' if getattr(args, 'light', False) else ''} "
                            f"widths={tuple(args.widths)} "
                            f"residual_blocks={args.residual_blocks} upsampling={args.upsampling}",
            "training": f"{args.iterations} iterations, batch {args.batch}, "
                        f"{args.size}x{args.size} photo crops"}


# --- segmentation -------------------------------------------------------------------------

def build_segmentation(args):
    from . import nets

    classes = len(data.CLASS_NAMES)
    widths = tuple(args.widths)
    if args.arch == "segnet":
        return nets.SegNet(classes, widths)
    return nets.unet(classes, widths, upsampling=args.upsampling)


def segmentation_metadata(args, net, extra):
    return {"kind": "segmentation", "output": "softmax",
            "class_names": ",".join(data.CLASS_NAMES), "class_colors": ";".join(data.CLASS_COLOURS),
            "architecture": f"{args.arch} widths={tuple(args.widths)} upsampling={args.upsampling}",
            "training": f"{args.iterations} iterations, batch {args.batch}, "
                        f"{args.size}x{args.size} synthetic texture scenes"}


# --- anomaly ------------------------------------------------------------------------------

def build_anomaly(args):
    from . import nets

    return nets.anomaly_autoencoder(upsampling=args.upsampling)


def anomaly_metadata(args, net, extra):
    return {"kind": "anomaly", "output_range": "0-1", "error_scale": f"{extra['error_scale']:.6f}",
            "error_ssim_weight": args.error_ssim,
            "architecture": f"encoder-decoder, no skips, upsampling={args.upsampling}",
            "training": f"{args.iterations} iterations, batch {args.batch}, "
                        f"{args.size}x{args.size} normal brick crops"}


# --- the registry -------------------------------------------------------------------------

TASKS = {
    "style": Task(build_style, style_metadata, "output"),
    "segmentation": Task(build_segmentation, segmentation_metadata, "scores"),
    "anomaly": Task(build_anomaly, anomaly_metadata, "reconstruction"),
}


def default_name(args):
    """The model's file name (without .onnx) when --name is not given."""
    if args.task == "style":
        return f"style_{args.style}{'_rt' if getattr(args, 'light', False) else ''}"
    if args.task == "segmentation":
        return f"segmentation_{args.arch}"
    if args.task == "anomaly":
        return "anomaly_brick"
    raise KeyError(args.task)


def full_metadata(args, net, extra):
    """The element's metadata keys common to all our models, then the task's own."""
    meta = {"input_range": "0-1", "mean": "0,0,0", "std": "1,1,1", "channel_order": "rgb",
            "size_multiple": net.size_multiple}
    meta.update(TASKS[args.task].metadata(args, net, extra))
    return meta
