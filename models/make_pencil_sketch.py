#!/usr/bin/env python3
"""Writes models/pencil_sketch.onnx: a small hand-designed convolutional image-to-image net.

It is not trained (the trained style-transfer autoencoders are made by the models/ package of
issue #3); its weights are classic image-processing kernels, so it shows a clear, deterministic
effect with no training data:

    grey   = 1x1 conv (Rec. 601 luma)
    smooth = 5x5 Gaussian conv (sigma 1.2)
    edges  = |Sobel| magnitude (3x3 convs, sqrt(gx^2 + gy^2))
    pencil = ReLU(1 - gain * edges)            dark strokes on white paper
    output = pencil * (0.45 + 0.55 * input)    tinted by the original colours

Input `input` [1,3,H,W] RGB 0-1, dynamic H and W (reflect padding keeps borders clean);
output `output` [1,3,H,W] RGB 0-1. Needs numpy and onnx.

    python3 models/make_pencil_sketch.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
GAIN = 5.0


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def main():
    g = np.exp(-((np.arange(5) - 2) ** 2) / (2 * 1.2**2))
    gauss = np.outer(g, g) / np.outer(g, g).sum()
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4
    sobel = np.stack([sobel_x, sobel_x.T])[:, None]  # [2,1,3,3]

    inits = [
        const("luma", np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)),
        const("gauss", gauss.reshape(1, 1, 5, 5)),
        const("sobel", sobel),
        const("gain", [GAIN]),
        const("one", [1.0]),
        const("tint_base", [0.45]),
        const("tint_gain", [0.55]),
        numpy_helper.from_array(np.array([0, 0, 3, 3, 0, 0, 3, 3], np.int64), "pads"),
        numpy_helper.from_array(np.array([1], np.int64), "channel_axis"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "luma"], ["grey"]),
        helper.make_node("Pad", ["grey", "pads"], ["grey_padded"], mode="reflect"),
        helper.make_node("Conv", ["grey_padded", "gauss"], ["smooth"]),
        helper.make_node("Conv", ["smooth", "sobel"], ["gradients"]),
        helper.make_node("Mul", ["gradients", "gradients"], ["squared"]),
        helper.make_node("ReduceSum", ["squared", "channel_axis"], ["energy"], keepdims=1),
        helper.make_node("Sqrt", ["energy"], ["edges"]),
        helper.make_node("Mul", ["edges", "gain"], ["strokes"]),
        helper.make_node("Sub", ["one", "strokes"], ["paper"]),
        helper.make_node("Relu", ["paper"], ["pencil"]),
        helper.make_node("Mul", ["input", "tint_gain"], ["tint_part"]),
        helper.make_node("Add", ["tint_part", "tint_base"], ["tint"]),
        helper.make_node("Mul", ["pencil", "tint"], ["output"]),
    ]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "H", "W"])
    graph = helper.make_graph(nodes, "pencil_sketch", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.doc_string = "Hand-designed pencil-sketch filter as a conv net (not trained)."
    for key, value in {
        "kind": "style",
        "input_range": "0-1",
        "output_range": "0-1",
        "channel_order": "rgb",
        "size_multiple": "1",
    }.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path = os.path.join(HERE, "pencil_sketch.onnx")
    onnx.save(model, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
