"""Quantised variants of the shipped models, made with ONNX Runtime's own tools, and their
quality against the fp32 model they come from.

    python3 -m models.quantize [--models style_mosaic_rt segmentation_unet] [--out DIR]

- int8: static QDQ quantisation (`onnxruntime.quantization.quantize_static`), activations
  calibrated on the training data's distribution (photo crops for style, synthetic scenes for
  segmentation), weights per channel.
- fp16: `onnxruntime.transformers.float16` with fp32 inputs and outputs kept.

Quality: style, PSNR of the variant's output against the fp32 output on 16 held-out photo
crops; segmentation, mIoU against the labels of the 64 held-out scenes evaluate.py uses, next
to the fp32 model's. Speed: ONNX Runtime alone, 640x360, 2 threads. Prints JSON.
"""
import argparse
import json
import os
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from . import data, evaluate, export

HERE = os.path.dirname(os.path.abspath(__file__))
# 7-bit weights. x86 CPUs without VNNI multiply u8 x s8 with VPMADDUBSW, whose 16-bit sums
# saturate on full-range weights: the same model then gives other classes there (mIoU 0.789 on
# such a CPU, 0.807 on a VNNI one). With 7 bits no sum can saturate, so both paths compute exact
# integer sums (mIoU 0.810, on a VNNI CPU); ONNX Runtime's quantisation guide recommends it.
REDUCE_RANGE = True


class Batches(CalibrationDataReader):
    def __init__(self, images):
        self.items = iter([{"input": x[None].astype(np.float32)} for x in images])

    def get_next(self):
        return next(self.items, None)


def calibration_images(kind, rng):
    if kind == "style":
        return data.content_batch(rng, 32, 192)
    return data.segmentation_batch(rng, 32, 128)[0]


def int8(src, dst, kind):
    prepared = dst + ".prep.onnx"
    quant_pre_process(src, prepared, skip_symbolic_shape=True)
    quantize_static(prepared, dst, Batches(calibration_images(kind, np.random.default_rng(5))),
                    quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=REDUCE_RANGE,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    os.remove(prepared)
    copy_metadata(src, dst)
    # A shipped variant is checked by tests/models.rs against this stored output.
    export.write_reference(dst, onnx.load(dst).graph.output[0].name)


def fp16(src, dst):
    from onnxruntime.transformers import float16

    model = float16.convert_float_to_float16(onnx.load(src), keep_io_types=True)
    onnx.save(model, dst)
    copy_metadata(src, dst)


def copy_metadata(src, dst):
    """The element reads its metadata keys; quantisation must not lose them."""
    model = onnx.load(dst)
    del model.metadata_props[:]
    for p in onnx.load(src).metadata_props:
        model.metadata_props.append(p)
    onnx.save(model, dst)


def fps(path, w=640, h=360, seconds=3.0):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 2
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, h, w), np.float32)
    s.run(None, {"input": x})
    n, t = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t < seconds:
        s.run(None, {"input": x})
        n += 1
    return round(n / (time.perf_counter() - t), 1)


def quality(kind, reference, variant):
    if kind == "style":
        x = data.content_batch(np.random.default_rng(99), 16, 192)
        a = evaluate.run(evaluate.onnx_session(reference), x)
        b = evaluate.run(evaluate.onnx_session(variant), x)
        mse = float(((a - b) ** 2).mean())
        return {"psnr_db_vs_fp32": round(10 * np.log10(1.0 / max(mse, 1e-12)), 2)}
    x, y = data.segmentation_batch(np.random.default_rng(evaluate.SEGMENTATION_EVAL_SEED), 64,
                                   evaluate.EVAL_SIZE)
    classes = int(evaluate.run(evaluate.onnx_session(reference), x[:1]).shape[1])
    out = {}
    for label, path in (("fp32", reference), ("variant", variant)):
        pred = evaluate.run(evaluate.onnx_session(path), x).argmax(axis=1)
        out[f"mIoU_{label}"] = round(evaluate.mean_iou(pred, y, classes)[0], 4)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", nargs="+", default=["style_mosaic_rt", "segmentation_unet"])
    p.add_argument("--out", default=HERE)
    a = p.parse_args()
    results = {}
    for name in a.models:
        src = os.path.join(HERE, f"{name}.onnx")
        kind = evaluate.metadata(src)["kind"]
        results[name] = {"fp32_fps_640x360": fps(src)}
        for variant, make in (("int8", lambda d: int8(src, d, kind)), ("fp16", lambda d: fp16(src, d))):
            dst = os.path.join(a.out, f"{name}_{variant}.onnx")
            make(dst)
            results[name][variant] = {"fps_640x360": fps(dst), **quality(kind, src, dst)}
            print(json.dumps({name: results[name]}), flush=True)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
