"""A ResNet-style CNN at 224x224, generated in-repo with onnx.helper (the INT8 benchmark's
large model; no model hub is reachable). Basic blocks as in ResNet-18/34: two 3x3 convolutions
with a residual add, batch norm folded into the convolutions (as a deployed model has it), He
initialisation so activations keep a sensible scale through the depth. The weights are random,
so its "accuracy" is agreement with its own FP32 outputs, not a dataset score.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def conv(self, x: str, cin: int, cout: int, kernel: int, stride: int, relu: bool) -> str:
        name = self._name("conv")
        fan_in = cin * kernel * kernel
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (cout, cin, kernel, kernel))
        b = self.rng.normal(0.0, 0.01, cout)
        self.weights += [numpy_helper.from_array(w.astype(np.float32), f"{name}_w"),
                         numpy_helper.from_array(b.astype(np.float32), f"{name}_b")]
        pad = kernel // 2
        self.nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [name],
                                           strides=[stride, stride], pads=[pad] * 4,
                                           name=name))
        if not relu:
            return name
        self.nodes.append(helper.make_node("Relu", [name], [f"{name}_relu"]))
        return f"{name}_relu"

    def block(self, x: str, cin: int, cout: int, stride: int) -> str:
        y = self.conv(x, cin, cout, 3, stride, relu=True)
        y = self.conv(y, cout, cout, 3, 1, relu=False)
        skip = x if stride == 1 and cin == cout else self.conv(x, cin, cout, 1, stride, False)
        name = self._name("add")
        self.nodes.append(helper.make_node("Add", [y, skip], [name]))
        self.nodes.append(helper.make_node("Relu", [name], [f"{name}_relu"]))
        return f"{name}_relu"


def resnet_style(blocks: tuple[int, ...] = (2, 2, 2, 2), width: int = 64, classes: int = 100,
                 size: int = 224, seed: int = 0) -> onnx.ModelProto:
    """image[N,3,size,size] -> stem 7x7/2 + maxpool -> 4 stages of basic blocks (width, 2x,
    4x, 8x channels) -> global average pool -> FC -> logits[N,classes]"""
    builder = _Builder(seed)
    x = builder.conv("image", 3, width, 7, 2, relu=True)
    builder.nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3],
                                          strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool", width
    for stage, count in enumerate(blocks):
        cout = width * 2 ** stage
        for index in range(count):
            x = builder.block(x, cin, cout, 2 if index == 0 and stage > 0 else 1)
            cin = cout
    builder.nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
                      helper.make_node("Flatten", ["gap"], ["flat"])]
    fc = builder.rng.normal(0.0, np.sqrt(1.0 / cin), (classes, cin)).astype(np.float32)
    builder.weights.append(numpy_helper.from_array(fc, "fc_w"))
    builder.nodes.append(helper.make_node("Gemm", ["flat", "fc_w"], ["logits"], transB=1,
                                          name="fc"))
    graph = helper.make_graph(
        builder.nodes, "resnet_style",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        builder.weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
