"""Export to ONNX (opset 17, one file, dynamic H and W), the element metadata, and a stored
reference (input and output) so that a re-export that changes behaviour is noticed by CI.

    python3 -m models.export models/checkpoints/style_mosaic.pt [--out models]

The network, its metadata and its output name come from the task registry (models.tasks);
models.train uses this module after training, never the other way round.
"""
import argparse
import os

import numpy as np

from . import tasks

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
# The stored reference runs at this size (a multiple of 8 and of 16).
REF_W, REF_H = 64, 48


def export(net, path, output_name, metadata):
    """Writes `net` to `path` with input `input` [1,3,H,W] and output `output_name`."""
    import onnx
    import torch  # here, so write_reference (used by models.quantize) needs no torch

    net = net.eval().cpu()
    dummy = torch.rand(1, 3, 64, 64)
    torch.onnx.export(
        net, (dummy,), path, opset_version=OPSET, dynamo=False,
        input_names=["input"], output_names=[output_name],
        dynamic_axes={"input": {2: "H", 3: "W"}, output_name: {2: "H", 3: "W"}},
    )
    model = onnx.load(path)
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    write_reference(path, output_name)
    return path


def reference_input():
    """A deterministic 64x48 RGB test image (uint8 HxWx3): smooth colour gradients plus a
    few hard edges, so every model does something visible on it."""
    yy, xx = np.mgrid[0:REF_H, 0:REF_W].astype(np.float32)
    img = np.stack([xx / REF_W, yy / REF_H, 0.5 + 0.5 * np.sin(xx / 6.0) * np.cos(yy / 5.0)], -1)
    img[10:30, 20:40] = [0.9, 0.2, 0.1]
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def write_reference(path, output_name):
    """Runs the exported model with ONNX Runtime on the reference input and stores both."""
    import onnxruntime as ort

    reference_dir = os.path.join(os.path.dirname(os.path.abspath(path)), "reference")
    os.makedirs(reference_dir, exist_ok=True)
    name = os.path.splitext(os.path.basename(path))[0]
    rgb = reference_input()
    x = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = session.run([output_name], {"input": x})[0]
    rgb.tofile(os.path.join(reference_dir, "input_64x48.rgb"))
    y.astype("<f4").tofile(os.path.join(reference_dir, f"{name}.output.f32"))
    meta = {p.key: p.value for p in __import__("onnx").load(path).metadata_props}
    if meta.get("kind") == "anomaly":
        from .evaluate import element_error_map

        errors = element_error_map(x[0], y[0], float(meta["error_ssim_weight"]), float(meta["error_scale"]))
        errors.astype("<f4").tofile(os.path.join(reference_dir, f"{name}.error.f32"))
    return y


def export_checkpoint(checkpoint, out):
    """Rebuilds the network of a checkpoint (as models.train writes them) and exports it to
    `out`/<name>.onnx, with metadata and reference."""
    args = argparse.Namespace(**checkpoint["args"])
    task = tasks.TASKS[args.task]
    net = task.build(args)
    net.load_state_dict(checkpoint["state_dict"])
    path = os.path.join(out, f"{checkpoint['name']}.onnx")
    export(net, path, task.output, tasks.full_metadata(args, net, checkpoint["extra"]))
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoints written by models.train")
    p.add_argument("--out", default=HERE, help="folder for the .onnx files (default: models/)")
    args = p.parse_args(argv)

    import torch

    for checkpoint in args.checkpoints:
        print("wrote", export_checkpoint(torch.load(checkpoint, weights_only=False), args.out))


if __name__ == "__main__":
    main()
