"""TFLite to ONNX with tflite2onnx (PyPI, 0.4.1) plus the two operators MediaPipe's selfie
segmentation models need and tflite2onnx lacks. Used by models.zoo, which puts the pinned
converter wheels on sys.path before importing this module (they are not installed in the
project's Python).

- HARD_SWISH: ONNX has HardSwish only from opset 14 and tflite2onnx writes opset 11, so it
  becomes x * HardSigmoid(x; alpha 1/6, beta 1/2), the same function.
- MediaPipe's custom op Convolution2DTransposeBias: TFLite's TRANSPOSE_CONV with a bias input
  and the parameters in the custom options (a TfLiteTransposeConvParams struct: padding,
  stride_width, stride_height, as int32). Weights are OHWI, as for TRANSPOSE_CONV; the output
  size is the model's, and the padding that gives it is cropped as TFLite does (the extra
  row or column at the end).

tflite2onnx turns the graph to NCHW, inputs and outputs included (its layout propagation), so
an NHWC [1,H,W,3] TFLite input becomes an ONNX input [1,3,H,W], which is what the elements take.
"""
import logging
import struct

import tflite
from tflite2onnx.layout import Layout
from tflite2onnx.model import Model
from tflite2onnx.op.common import Operator, OpFactory


class HardSigmoid(Operator):
    """The helper node of HardSwish (no TFLite peer)."""

    TypeMapping = {}

    def __init__(self, TFactory):
        super().__init__(TFactory, -1)
        self.attrs["alpha"] = 1.0 / 6.0
        self.attrs["beta"] = 0.5
        self.setInited()

    @property
    def type(self):
        return "HardSigmoid"

    def propagatableTensors(self):
        return self.inputs + self.outputs

    def transform(self):
        pass


class HardSwish(Operator):
    """HARD_SWISH as Mul(x, HardSigmoid(x))."""

    TypeMapping = {tflite.BuiltinOperator.HARD_SWISH: "Mul"}

    def __init__(self, TFactory, index):
        super().__init__(TFactory, index)
        self.setInited()

    @property
    def type(self):
        return "Mul"

    def parse(self):
        op = self.tflite
        assert op.InputsLength() == 1 and op.OutputsLength() == 1
        x = self.parseInput(0)
        self.parseOutput(0)
        gate = self.TFactory.getWithRef(x, "TFLITE2ONNX_HardSigmoid_" + x.name, True)
        gate.setParsed()
        helper = HardSigmoid(self.TFactory)
        helper.inputs.append(x)
        x.addConsumer(helper)
        helper.outputs.append(gate)
        gate.addProducer(helper)
        helper.setParsed()
        gate.addConsumer(self)
        self.inputs.append(gate)
        self.pre.append(helper)
        self.setParsed()

    def propagatableTensors(self):
        return self.inputs + self.outputs

    def transform(self):
        pass


class Convolution2DTransposeBias(Operator):
    """MediaPipe's transposed convolution with bias (a TFLite custom op) as ConvTranspose."""

    TypeMapping = {tflite.BuiltinOperator.CUSTOM: "ConvTranspose"}

    def __init__(self, TFactory, index):
        super().__init__(TFactory, index)
        self.setInited()

    @property
    def type(self):
        return "ConvTranspose"

    def parse(self):
        op = self.tflite
        code = self.model.OperatorCodes(op.OpcodeIndex()).CustomCode()
        code = code.decode() if code else ""
        if code != "Convolution2DTransposeBias":
            raise NotImplementedError(f"unsupported TFLite custom op '{code}'")
        assert op.InputsLength() == 3 and op.OutputsLength() == 1
        x = self.parseInput(0, Layout("NHWC", "NCHW"))
        w = self.parseInput(1, Layout("OHWI", "IOHW"))
        self.parseInput(2, is_bias=True)
        y = self.parseOutput(0, Layout("NHWC", "NCHW"))
        _padding, stride_w, stride_h = struct.unpack("<iii", op.CustomOptionsAsNumpy().tobytes()[:12])
        kh, kw = w.shape[1:3]
        begin, end = [], []
        for size_in, size_out, k, s in ((x.shape[1], y.shape[1], kh, stride_h),
                                        (x.shape[2], y.shape[2], kw, stride_w)):
            total = (size_in - 1) * s + k - size_out
            if total < 0:
                raise NotImplementedError("Convolution2DTransposeBias: an output larger than the "
                                          "full transposed convolution")
            begin.append(total // 2)
            end.append(total - total // 2)
        self.attrs["kernel_shape"] = [kh, kw]
        self.attrs["strides"] = [stride_h, stride_w]
        self.attrs["pads"] = begin + end
        self.attrs["dilations"] = [1, 1]
        self.attrs["group"] = 1
        self.setParsed()

    def propagatableTensors(self):
        return []

    def transform(self):
        pass


def convert(tflite_bytes):
    """The ONNX ModelProto (opset 11, NCHW input and output) of a TFLite flatbuffer."""
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)  # fp16 weights are folded; it warns
    for cls in (HardSwish, Convolution2DTransposeBias):
        for opcode in cls.TypeMapping:
            if OpFactory.registry.setdefault(opcode, cls) is not cls:
                raise RuntimeError(f"tflite2onnx already converts opcode {opcode}: check the "
                                   "extension against the pinned version")
    model = Model(tflite.Model.GetRootAsModel(tflite_bytes, 0))
    model.convert({})
    return model.onnx
