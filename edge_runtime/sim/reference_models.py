"""The networks behind the published Orin figures, as ONNX graphs, for calibration and tests.

Built with ``onnx.helper`` only. The weights are *declared, not stored*: every initializer carries
its dims and data type but no values, because the simulator's cost model
(:func:`edge_runtime.graph.analysis.analyse`) needs shapes, not numbers. A graph therefore costs a
few hundred kilobytes however many parameters it declares, and cannot be executed.

Each model follows its reference implementation layer for layer (convolution shapes, strides,
padding, heads); batch-norm is omitted because TensorRT folds it into the convolution. The MAC
totals, and the published figures they are checked against, are in ``docs/simulator.md``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import ModelProto, TensorProto, helper, numpy_helper

from edge_runtime.graph.analysis import CostProfile, analyse

_OPSET = 17


class _Graph:
    """A tiny graph builder that tracks channel counts (ONNX shape inference does the rest)."""

    def __init__(self, name: str, input_shape: Sequence[int]) -> None:
        self.name = name
        self.input_shape = list(input_shape)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.channels: dict[str, int] = {"input": int(input_shape[1])}
        self._declared: set[str] = set()
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def _weight(self, name: str, dims: Sequence[int]) -> str:
        tensor = TensorProto()  # dims only: the values are never needed
        tensor.name = name
        tensor.data_type = TensorProto.FLOAT
        tensor.dims.extend(int(d) for d in dims)
        self.initializers.append(tensor)
        return name

    def conv(self, x: str, cout: int, kernel: int, stride: int = 1, pad: int | None = None,
             group: int = 1, relu: bool = True, shared: str | None = None,
             silu: bool = False) -> str:
        """Conv (+ bias, + ReLU, or + SiLU written as exporters write it: ``x * Sigmoid(x)``);
        convs given the same ``shared`` key share one weight."""
        cin = self.channels[x]
        name = self._name("conv")
        pad = kernel // 2 if pad is None else pad
        key = shared or name
        weight, bias = f"{key}.w", f"{key}.b"
        if key not in self._declared:
            self._declared.add(key)
            self._weight(weight, [cout, cin // group, kernel, kernel])
            self._weight(bias, [cout])
        out = f"{name}.y"
        self.nodes.append(helper.make_node(
            "Conv", [x, weight, bias], [out], name=name, kernel_shape=[kernel, kernel],
            strides=[stride, stride], pads=[pad] * 4, group=group))
        self.channels[out] = cout
        if silu:
            return self.silu(out)
        return self.relu(out) if relu else out

    def op(self, op_type: str, inputs: Sequence[str], channels: int, outputs: int = 1,
           **attributes: Any) -> list[str]:
        """Any other node; its outputs have ``channels`` channels (for the next conv)."""
        name = self._name(op_type.lower())
        names = [f"{name}.y{i}" for i in range(outputs)] if outputs > 1 else [name]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=name,
                                           **attributes))
        for out in names:
            self.channels[out] = channels
        return names

    def silu(self, x: str) -> str:
        """``x * Sigmoid(x)``: how PyTorch exports ``nn.SiLU`` to ONNX (no SiLU operator)."""
        (gate,) = self.op("Sigmoid", [x], self.channels[x])
        return self.op("Mul", [x, gate], self.channels[x])[0]

    def constant(self, name: str, values: npt.ArrayLike, dtype: type = np.int64) -> str:
        """A small initializer with values (split sizes, shapes, scales): shape inference
        reads them."""
        tensor = numpy_helper.from_array(np.asarray(values, dtype=dtype), name)
        self.initializers.append(tensor)
        return name

    def relu(self, x: str) -> str:
        out = self._name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [out], name=out))
        self.channels[out] = self.channels[x]
        return out

    def add(self, main: str, other: str, relu: bool = True) -> str:
        """``main`` first: TensorRT fuses the add into the layer that produced ``main``."""
        out = self._name("add")
        self.nodes.append(helper.make_node("Add", [main, other], [out], name=out))
        self.channels[out] = self.channels[main]
        return self.relu(out) if relu else out

    def maxpool(self, x: str, kernel: int, stride: int, pad: int) -> str:
        out = self._name("maxpool")
        self.nodes.append(helper.make_node("MaxPool", [x], [out], name=out,
                                           kernel_shape=[kernel, kernel],
                                           strides=[stride, stride], pads=[pad] * 4))
        self.channels[out] = self.channels[x]
        return out

    def upsample2x(self, x: str) -> str:
        """Nearest-neighbour x2 (the scales carry values: shape inference reads them)."""
        out = self._name("resize")
        scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32),
                                         f"{out}.scales")
        self.initializers.append(scales)
        self.nodes.append(helper.make_node("Resize", [x, "", scales.name], [out], name=out,
                                           mode="nearest"))
        self.channels[out] = self.channels[x]
        return out

    def classifier(self, x: str, classes: int) -> str:
        pooled, flat, out = self._name("gap"), self._name("flatten"), self._name("fc")
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled], name=pooled))
        self.nodes.append(helper.make_node("Flatten", [pooled], [flat], name=flat))
        weight = self._weight(f"{out}.w", [classes, self.channels[x]])
        bias = self._weight(f"{out}.b", [classes])
        self.nodes.append(helper.make_node("Gemm", [flat, weight, bias], [out], name=out,
                                           transB=1))
        return out

    def model(self, outputs: Sequence[str]) -> ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, self.input_shape)],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            initializer=self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                                 producer_name="edge_runtime.sim.reference_models")


# --- backbones --------------------------------------------------------------------------------

def _stem(g: _Graph) -> str:
    return g.maxpool(g.conv("input", 64, 7, stride=2), 3, 2, 1)


def _basic_block(g: _Graph, x: str, planes: int, stride: int) -> str:
    shortcut = x
    if stride != 1 or g.channels[x] != planes:
        shortcut = g.conv(x, planes, 1, stride=stride, relu=False)
    y = g.conv(x, planes, 3, stride=stride)
    return g.add(g.conv(y, planes, 3, relu=False), shortcut)


def _bottleneck(g: _Graph, x: str, planes: int, stride: int, groups: int = 1,
                width_per_group: int = 64) -> str:
    """ResNet v1.5 / ResNeXt bottleneck: the stride sits on the 3x3 convolution."""
    width = planes * width_per_group // 64 * groups
    out_channels = planes * 4
    shortcut = x
    if stride != 1 or g.channels[x] != out_channels:
        shortcut = g.conv(x, out_channels, 1, stride=stride, relu=False)
    y = g.conv(x, width, 1)
    y = g.conv(y, width, 3, stride=stride, group=groups)
    return g.add(g.conv(y, out_channels, 1, relu=False), shortcut)


def _resnet_stages(g: _Graph, x: str, depth: int, groups: int = 1, width_per_group: int = 64,
                   strides: Sequence[int] = (1, 2, 2, 2), stages: int = 4) -> list[str]:
    """ResNet-34 (basic blocks) or ResNet-50 / ResNeXt-50 (bottlenecks); stage outputs C2..C5."""
    blocks = {34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}[depth]
    outputs = []
    for stage, (count, stride) in enumerate(zip(blocks[:stages], strides, strict=False)):
        planes = 64 * 2 ** stage
        for index in range(count):
            s = stride if index == 0 else 1
            if depth == 34:
                x = _basic_block(g, x, planes, s)
            else:
                x = _bottleneck(g, x, planes, s, groups, width_per_group)
        outputs.append(x)
    return outputs


def resnet50() -> ModelProto:
    """ResNet-50 v1.5 at 224x224 (MLPerf ``resnet50``), classifier included."""
    g = _Graph("resnet50_v1.5", [1, 3, 224, 224])
    c5 = _resnet_stages(g, _stem(g), 50)[-1]
    return g.model([g.classifier(c5, 1000)])


def resnet34_backbone(height: int = 768, width: int = 1280) -> ModelProto:
    """ResNet-34 convolutional trunk (no pooling or classifier), NVIDIA's DLA reference input."""
    g = _Graph("resnet34_backbone", [1, 3, height, width])
    return g.model([_resnet_stages(g, _stem(g), 34)[-1]])


# --- detectors --------------------------------------------------------------------------------

def _retinanet(name: str, depth: int, groups: int, width_per_group: int, size: tuple[int, int],
               classes: int, anchors: int = 9) -> ModelProto:
    """RetinaNet as in torchvision / the MLPerf reference: FPN on C3..C5, P6 and P7 from P5
    (``LastLevelP6P7(256, 256)``), and two four-conv 256-channel heads shared across P3..P7.
    The outputs are the raw head tensors (box decoding and NMS are not part of the engine)."""
    g = _Graph(name, [1, 3, *size])
    _, c3, c4, c5 = _resnet_stages(g, _stem(g), depth, groups, width_per_group)
    lat5, lat4, lat3 = (g.conv(c, 256, 1, relu=False) for c in (c5, c4, c3))
    top4 = g.add(lat4, g.upsample2x(lat5), relu=False)
    top3 = g.add(lat3, g.upsample2x(top4), relu=False)
    p3, p4, p5 = (g.conv(t, 256, 3, relu=False) for t in (top3, top4, lat5))
    p6 = g.conv(p5, 256, 3, stride=2, relu=False)
    p7 = g.conv(g.relu(p6), 256, 3, stride=2, relu=False)
    outputs = []
    for level in (p3, p4, p5, p6, p7):
        for head, out_channels in (("cls", anchors * classes), ("box", anchors * 4)):
            y = level
            for index in range(4):
                y = g.conv(y, 256, 3, shared=f"{head}{index}")
            outputs.append(g.conv(y, out_channels, 3, relu=False, shared=f"{head}_out"))
    return g.model(outputs)


def retinanet_resnext50() -> ModelProto:
    """MLPerf ``retinanet``: ResNeXt-50 32x4d FPN, 800x800, 264 OpenImages classes."""
    return _retinanet("retinanet_resnext50_32x4d_fpn", 50, 32, 4, (800, 800), 264)


def retinanet_resnet50_torchvision() -> ModelProto:
    """torchvision ``retinanet_resnet50_fpn`` (COCO, 91 classes) at 800x800: a cross-check of the
    RetinaNet head accounting against a published figure."""
    return _retinanet("retinanet_resnet50_fpn", 50, 1, 64, (800, 800), 91)


def retinanet_resnet34(classes: int = 3) -> ModelProto:
    """NVIDIA's DLA reference RetinaNet ResNet-34 at 1280x768 (Waymo: 3 classes assumed)."""
    return _retinanet("retinanet_resnet34_fpn", 34, 1, 64, (768, 1280), classes)


def ssd_resnet34() -> ModelProto:
    """MLPerf ``ssd-resnet34`` (SSD-large, 1200x1200, 81 COCO labels): ResNet-34 to layer3 with
    layer3 at stride 1, five extra blocks, and 3x3 heads with stride 3 (the MLPerf ONNX)."""
    g = _Graph("ssd_resnet34_1200", [1, 3, 1200, 1200])
    x = _resnet_stages(g, _stem(g), 34, strides=(1, 2, 1), stages=3)[-1]
    sources = [x]
    extras = [(256, 512, 2, 1), (256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 2, 0),
              (128, 256, 1, 0)]
    for mid, out, stride, pad in extras:
        x = g.conv(g.conv(x, mid, 1), out, 3, stride=stride, pad=pad)
        sources.append(x)
    outputs = []
    for source, defaults in zip(sources, (4, 6, 6, 6, 4, 4), strict=True):
        outputs.append(g.conv(source, defaults * 4, 3, stride=3, relu=False))
        outputs.append(g.conv(source, defaults * 81, 3, stride=3, relu=False))
    return g.model(outputs)


def ssd_mobilenet_v1() -> ModelProto:
    """MLPerf ``ssd-mobilenet`` (TF ``ssd_mobilenet_v1_coco``, 300x300, 91 classes): MobileNetV1
    to conv13, four extra 1x1/3x3 pairs, 1x1 box predictors with 3 anchors on conv11 and 6 on
    the rest."""
    g = _Graph("ssd_mobilenet_v1_300", [1, 3, 300, 300])
    x = g.conv("input", 32, 3, stride=2)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
            (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
    sources = []
    for index, (out, stride) in enumerate(plan, start=1):
        x = g.conv(x, g.channels[x], 3, stride=stride, group=g.channels[x])  # depthwise
        x = g.conv(x, out, 1)  # pointwise
        if index in (11, 13):
            sources.append(x)
    for mid, out in ((256, 512), (128, 256), (128, 256), (64, 128)):
        x = g.conv(g.conv(x, mid, 1), out, 3, stride=2)
        sources.append(x)
    outputs = []
    for source, anchors in zip(sources, (3, 6, 6, 6, 6, 6), strict=True):
        outputs.append(g.conv(source, anchors * 4, 1, relu=False))
        outputs.append(g.conv(source, anchors * 91, 1, relu=False))
    return g.model(outputs)


# --- YOLO11 -----------------------------------------------------------------------------------

#: Ultralytics ``yolo11.yaml`` scales: (depth multiple, width multiple, max channels).
YOLO11_SCALES: dict[str, tuple[float, float, int]] = {
    "n": (0.50, 0.25, 1024), "s": (0.50, 0.50, 1024), "m": (0.50, 1.00, 512),
    "l": (1.00, 1.00, 512), "x": (1.00, 1.50, 512)}


class _Yolo:
    """The blocks of Ultralytics YOLO11 (``ultralytics/nn/modules``) as exported to ONNX: every
    ``Conv`` is convolution (batch-norm folded into its bias) + SiLU as Sigmoid and Mul,
    ``chunk``/``split`` are Split nodes, ``torch.cat`` is Concat."""

    def __init__(self, g: _Graph, scale: str) -> None:
        self.g = g
        self.depth, self.width, self.max_channels = YOLO11_SCALES[scale]
        self.all_c3k = scale in "mlx"  # parse_model: every C3k2 of the m/l/x sizes uses C3k blocks

    def channels(self, c: int) -> int:
        """``make_divisible(min(c, max_channels) * width, 8)``."""
        return int(math.ceil(min(c, self.max_channels) * self.width / 8) * 8)

    def repeats(self, n: int) -> int:
        return max(round(n * self.depth), 1) if n > 1 else n

    def conv(self, x: str, c: int, k: int = 1, s: int = 1, g: int = 1,
             act: bool = True) -> str:
        return self.g.conv(x, c, k, stride=s, group=g, relu=False, silu=act)

    def split(self, x: str, sizes: Sequence[int], axis: int = 1) -> list[str]:
        sizes_name = self.g.constant(f"{self.g._name('split')}.sizes", sizes)
        parts = self.g.op("Split", [x, sizes_name], 0, outputs=len(sizes), axis=axis)
        for part, size in zip(parts, sizes, strict=True):
            self.g.channels[part] = size
        return parts

    def concat(self, parts: Sequence[str], axis: int = 1) -> str:
        return self.g.op("Concat", parts, sum(self.g.channels[p] for p in parts), axis=axis)[0]

    def bottleneck(self, x: str, c: int, hidden: int) -> str:
        """``Bottleneck(c, c, shortcut=True, k=(3, 3))``: two 3x3 convs and the residual."""
        y = self.conv(self.conv(x, hidden, 3), c, 3)
        return self.g.add(y, x, relu=False)

    def c3k(self, x: str, c: int) -> str:
        """``C3k(c, c, n=2, e=0.5)``: a CSP block of two bottlenecks."""
        hidden = c // 2
        y = self.conv(x, hidden)
        for _ in range(2):
            y = self.bottleneck(y, hidden, hidden)
        return self.conv(self.concat([y, self.conv(x, hidden)]), c)

    def c3k2(self, x: str, c2: int, n: int, c3k: bool = False, e: float = 0.5) -> str:
        """``C3k2``: a C2f whose inner blocks are C3k (``c3k``) or bottlenecks of width c/2."""
        c = int(c2 * e)
        parts = self.split(self.conv(x, 2 * c), [c, c])
        for _ in range(self.repeats(n)):
            last = parts[-1]
            inner = c3k or self.all_c3k
            parts.append(self.c3k(last, c) if inner else self.bottleneck(last, c, c // 2))
        return self.conv(self.concat(parts), c2)

    def sppf(self, x: str, c2: int) -> str:
        """``SPPF(k=5)``: three chained 5x5 max-pools, concatenated."""
        parts = [self.conv(x, self.g.channels[x] // 2)]
        for _ in range(3):
            parts.append(self.g.maxpool(parts[-1], 5, 1, 2))
        return self.conv(self.concat(parts), c2)

    def attention(self, x: str, size: int) -> str:
        """``Attention(dim, num_heads=dim // 64, attn_ratio=0.5)`` over the ``size`` positions
        of the stride-32 map."""
        g, dim = self.g, self.g.channels[x]
        heads = dim // 64
        head_dim, key_dim = dim // heads, dim // heads // 2
        qkv = self.conv(x, dim + 2 * key_dim * heads, act=False)
        shape = g.constant(f"{g._name('shape')}.v", [1, heads, 2 * key_dim + head_dim, size])
        q, k, v = self.split(g.op("Reshape", [qkv, shape], 0)[0], [key_dim, key_dim, head_dim],
                             axis=2)
        (qt,) = g.op("Transpose", [q], 0, perm=[0, 1, 3, 2])
        (scores,) = g.op("MatMul", [qt, k], 0)
        scale = g.constant(f"{g._name('scale')}.v", np.float32(key_dim ** -0.5), np.float32)
        (probs,) = g.op("Softmax", [g.op("Mul", [scores, scale], 0)[0]], 0, axis=-1)
        (probs_t,) = g.op("Transpose", [probs], 0, perm=[0, 1, 3, 2])
        (mixed,) = g.op("MatMul", [v, probs_t], 0)
        side = math.isqrt(size)
        image = g.constant(f"{g._name('shape')}.v", [1, dim, side, side])
        (mixed_image,) = g.op("Reshape", [mixed, image], dim)
        (v_image,) = g.op("Reshape", [v, image], dim)
        positional = self.conv(v_image, dim, 3, g=dim, act=False)
        return self.conv(g.add(mixed_image, positional, relu=False), dim, act=False)

    def c2psa(self, x: str, n: int, size: int) -> str:
        """``C2PSA``: half the channels through ``n`` PSA blocks (attention + 2-conv FFN, each
        with its residual)."""
        c1 = self.g.channels[x]
        c = c1 // 2
        a, b = self.split(self.conv(x, 2 * c), [c, c])
        for _ in range(self.repeats(n)):
            b = self.g.add(self.attention(b, size), b, relu=False)
            b = self.g.add(self.conv(self.conv(b, 2 * c), c, act=False), b, relu=False)
        return self.conv(self.concat([a, b]), c1)

    def detect(self, levels: Sequence[str], classes: int, size: int) -> str:
        """``Detect`` (YOLO11 head: depthwise-separable class branch), exported with its
        decoding: DFL (softmax over 16 bins, a fixed 1x1 conv), box arithmetic, sigmoid."""
        g, reg_max = self.g, 16
        first = g.channels[levels[0]]
        c2, c3 = max(16, first // 4, reg_max * 4), max(first, min(classes, 100))
        flat = []
        anchors = 0
        for level, stride in zip(levels, (8, 16, 32), strict=True):
            box = self.conv(self.conv(self.conv(level, c2, 3), c2, 3), 4 * reg_max, act=False)
            ch = g.channels[level]
            cls = self.conv(self.conv(level, ch, 3, g=ch), c3)
            cls = self.conv(self.conv(cls, c3, 3, g=c3), c3)
            cls = self.conv(cls, classes, act=False)
            cells = (size // stride) ** 2
            anchors += cells
            shape = g.constant(f"{g._name('shape')}.v", [1, 4 * reg_max + classes, cells])
            flat.append(g.op("Reshape", [self.concat([box, cls]), shape], 0)[0])
        joined = self.concat(flat, axis=2)
        box, cls = self.split(joined, [4 * reg_max, classes])
        bins = g.constant(f"{g._name('shape')}.v", [1, 4, reg_max, anchors])
        (bins_t,) = g.op("Transpose", [g.op("Reshape", [box, bins], 0)[0]], 0,
                         perm=[0, 2, 1, 3])
        (probs,) = g.op("Softmax", [bins_t], reg_max, axis=1)
        dfl = g.conv(probs, 1, 1, pad=0, relu=False)  # fixed weights 0..15, no bias in torch
        sides = g.constant(f"{g._name('shape')}.v", [1, 4, anchors])
        lt, rb = self.split(g.op("Reshape", [dfl, sides], 0)[0], [2, 2])
        points = g.constant(f"{g._name('anchors')}.v",
                            np.zeros((1, 2, anchors), np.float32), np.float32)
        (top_left,) = g.op("Sub", [points, lt], 2)
        (bottom_right,) = g.op("Add", [points, rb], 2)
        (centre,) = g.op("Div", [g.op("Add", [top_left, bottom_right], 2)[0],
                                 g.constant(f"{g._name('two')}.v", np.float32(2), np.float32)], 2)
        (extent,) = g.op("Sub", [bottom_right, top_left], 2)
        strides = g.constant(f"{g._name('strides')}.v", np.ones((1, anchors), np.float32),
                             np.float32)
        (boxes,) = g.op("Mul", [self.concat([centre, extent]), strides], 4)
        (scores,) = g.op("Sigmoid", [cls], classes)
        return self.concat([boxes, scores])


def yolo11(scale: str, size: int = 640, classes: int = 80) -> ModelProto:
    """Ultralytics YOLO11 (``yolo11.yaml``, detection, COCO) at ``size`` x ``size``, as
    ``model.export(format="onnx")`` writes it: batch-norm folded, SiLU as Sigmoid + Mul, the
    decoded (1, 84, 8400) output. Layer for layer from the yaml and ``ultralytics/nn/modules``
    (backbone, FPN/PAN neck with upsampling, C2PSA attention at stride 32, three-level head)."""
    g = _Graph(f"yolo11{scale}_{size}", [1, 3, size, size])
    y = _Yolo(g, scale)
    c = y.channels
    x = y.conv(y.conv("input", c(64), 3, 2), c(128), 3, 2)
    x = y.c3k2(x, c(256), 2, e=0.25)
    p3 = y.c3k2(y.conv(x, c(256), 3, 2), c(512), 2, e=0.25)
    p4 = y.c3k2(y.conv(p3, c(512), 3, 2), c(512), 2, c3k=True)
    x = y.c3k2(y.conv(p4, c(1024), 3, 2), c(1024), 2, c3k=True)
    p5 = y.c2psa(y.sppf(x, c(1024)), 2, (size // 32) ** 2)
    h4 = y.c3k2(y.concat([g.upsample2x(p5), p4]), c(512), 2)
    out3 = y.c3k2(y.concat([g.upsample2x(h4), p3]), c(256), 2)
    out4 = y.c3k2(y.concat([y.conv(out3, c(256), 3, 2), h4]), c(512), 2)
    out5 = y.c3k2(y.concat([y.conv(out4, c(512), 3, 2), p5]), c(1024), 2, c3k=True)
    return g.model([y.detect([out3, out4, out5], classes, size)])


def _yolo11_builder(scale: str) -> Callable[[], ModelProto]:
    return functools.partial(yolo11, scale)


# --- catalogue --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReferenceModel:
    """A reference network and the published size it should match."""

    name: str
    title: str
    build: Callable[[], ModelProto]
    published_gmacs: float | None
    """Commonly published multiply-accumulates per image (None: no published figure)."""
    published_source: str
    published_mparams: float | None = None


REFERENCE_MODELS: dict[str, ReferenceModel] = {m.name: m for m in (
    ReferenceModel("resnet50", "ResNet-50 v1.5 224x224", resnet50, 4.09,
                   "torchvision resnet50: 4.09 GFLOPS (multiply-adds), 25.6M params; MLPerf "
                   "paper: 8.2 GOPS", 25.557),
    ReferenceModel("resnet34_backbone", "ResNet-34 backbone 1280x768", resnet34_backbone,
                   3.6637 * 1280 * 768 / 224**2,
                   "torchvision resnet34: 3.66 GFLOPS at 224x224 (convolutions scale with the "
                   "pixel count; the 0.5M-MAC classifier is not part of the backbone)", 21.28),
    ReferenceModel("ssd_mobilenet_v1", "SSD-MobileNetV1 300x300", ssd_mobilenet_v1, 2.47 / 2,
                   "MLPerf Inference paper (Reddi et al., ISCA 2020): 2.47 GOPS, 6.91M params",
                   6.91),
    ReferenceModel("ssd_resnet34", "SSD-ResNet-34 1200x1200", ssd_resnet34, 433.411 / 2,
                   "OpenVINO Open Model Zoo ssd-resnet34-1200-onnx: 433.411 GFLOPs, "
                   "20.058M params", 20.058),
    ReferenceModel("retinanet_resnext50", "RetinaNet ResNeXt-50 FPN 800x800",
                   retinanet_resnext50, None,
                   "no published MAC count; parameters vs the MLPerf ONNX "
                   "(resnext50_32x4d_fpn.onnx, 152 MB of FP32 = 38M values incl. constants)", 38.0),
    ReferenceModel("retinanet_resnet50_torchvision", "RetinaNet ResNet-50 FPN 800x800 (COCO)",
                   retinanet_resnet50_torchvision, 151.54,
                   "torchvision retinanet_resnet50_fpn: 151.54 GFLOPS, 34.0M params", 34.014),
    ReferenceModel("retinanet_resnet34", "RetinaNet ResNet-34 FPN 1280x768", retinanet_resnet34,
                   None, "no published MAC count (NVIDIA's DLA reference model; 3 classes "
                   "assumed)"),
    *(ReferenceModel(f"yolo11{scale}", f"YOLO11{scale} 640x640", _yolo11_builder(scale),
                     gflops / 2, f"Ultralytics YOLO11 docs (detection, COCO, 640): {gflops} "
                     f"GFLOPs (2 per MAC), {mparams}M params", mparams)
      for scale, gflops, mparams in (("n", 6.5, 2.6), ("s", 21.5, 9.4), ("m", 68.0, 20.1),
                                     ("l", 86.9, 25.3), ("x", 194.9, 56.9))),
)}


@functools.cache
def reference_model(name: str) -> ModelProto:
    """The ONNX graph of a reference model (built once per process)."""
    return REFERENCE_MODELS[name].build()


def parameter_count(model: ModelProto) -> int:
    """Declared weights (each shared initializer once): initializers without stored values
    (resize scales, shapes, split sizes and anchors carry values and are not parameters)."""
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer
               if not (t.raw_data or t.float_data or t.int64_data or t.int32_data))


@functools.cache
def reference_cost(name: str, sparse: bool = False) -> CostProfile:
    """The cost profile of a reference model at batch 1 (pass ``batch`` to the device model);
    ``sparse``: as NVIDIA's 2:4 builds of it, every convolution with a reduction of at least 32
    channels (a multiple of 4) sparse, the first convolution and grouped ones dense."""
    model = reference_model(name)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return analyse(model, {"input": shape}, _sparse_convolutions(model) if sparse else ())


def _sparse_convolutions(model: ModelProto) -> set[str]:
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    chosen = set()
    for node in model.graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        weight = dims.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 \
            else None
        if weight is not None and group == 1 and weight[1] >= 32 and weight[1] % 4 == 0:
            chosen.add(node.name)
    return chosen
