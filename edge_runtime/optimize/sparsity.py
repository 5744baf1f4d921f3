"""2:4 structured sparsity: which layers can use it, which do, and magnitude pruning into it.

The pattern (TensorRT Developer Guide, "Structured Sparsity"; NVIDIA apex ASP,
``apex/contrib/sparsity/sparse_masklib.py``): in every group of 4 consecutive weights along a
layer's reduction axis, at least 2 are zero. Conv [Cout, Cin/g, k...]: along Cin, for each output
channel and kernel tap (TensorRT checks ``weights[k, c:c+4, r, s]``; ASP permutes [K, C, R, S] to
[R, S, K, C] and groups along C). Gemm B: along K, axis 0, or axis 1 when ``transB=1`` (ASP prunes
a Linear [out, in] along ``in``; Polygraphy's ``SparsityPruner`` uses these axes). MatMul B
[..., K, N]: along K. ConvTranspose [Cin, Cout/g, k...]: along Cin, reported only. Pruning is
ASP's ``m4n2_1d``: each group keeps its 2 largest |w| (on a tie, the earlier one).

Rules, in order; the first that fails names the :class:`Reason`:

1. The weight is constant: an initializer (also when an old exporter lists it as a graph input,
   as TensorRT's parser and onnxruntime accept) or a ``Constant`` node. A weight behind a
   DequantizeLinear is judged on its dequantized values but never pruned (``quantized`` if rules
   3-5 pass): prune the float model, then quantize (symmetric INT8 keeps a zero zero).
2. Its type is float32, float16, float64 or bfloat16.
3. TensorRT has sparse kernels for it: Conv, Gemm, MatMul (the guide names convolution and
   fully-connected weights); not ConvTranspose or LSTM/GRU/RNN (neither the guide nor ASP's
   whitelist has them), not grouped or depthwise Conv (NVIDIA/TensorRT#4054).
4. The reduction length is a multiple of 4 (the guide's ``C % 4 == 0``): not a 3-channel stem.
5. It pays: reduction (Cin per group, or K) and output channels (Cout, or N) are at least
   ``min_channels`` and aligned as ASP demands (``asp.py``: Cout % 8, Cin % 16). The default, 32,
   is a floor (PTX ``mma.sp`` m16n8k32 reduces 32 elements at a time), no promise: TensorRT
   keeps the faster of sparse and dense tactics, and NVIDIA saw sparse win from about 256
   channels (NVIDIA/TensorRT#3849, #4065); ``min_channels=256`` prunes only there.
6. A weight that several nodes read is pruned only if every reader is a layer passing rules 1-5
   with the same reduction axis: pruning for one must not change another.
7. Neither the node nor its weight is named in ``skip``.

A table maps op types to handlers, with a default (STYLE.md); If/Loop bodies are not reported.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from onnx import AttributeProto, ModelProto, NodeProto, TensorProto, helper, numpy_helper

GROUP, ZEROS = 4, 2  # the pattern: at least 2 zeros in each group of 4
DEFAULT_MIN_CHANNELS = 32
ALIGN_OUT, ALIGN_REDUCTION = 8, 16  # ASP's tensor-core alignment (asp.py)
FLOAT_TYPES = frozenset({TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE,
                         TensorProto.BFLOAT16})


class Reason(str, enum.Enum):
    """Why 2:4 does not apply to a layer (rules 1-7 of the module docstring)."""

    NOT_CONSTANT = "not_constant"
    QUANTIZED = "quantized"
    DTYPE = "dtype"
    UNSUPPORTED = "unsupported"
    GROUPED = "grouped"
    NOT_MULTIPLE_OF_4 = "not_multiple_of_4"
    TOO_SMALL = "too_small"
    SHARED = "shared"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class LayerSparsity:
    """One weight-bearing layer: its weight, whether 2:4 applies (or why not), its zeros."""

    node: str
    op: str
    weight: str
    shape: tuple[int, ...]
    axis: int | None  # reduction axis of the weight; None when the weight is unknown
    reason: Reason | None  # None: 2:4 applies
    detail: str  # what the reason means here ("3 reduction channels, not a multiple of 4")
    zero_fraction: float | None  # None when the weight's values are unknown
    is_2_4: bool  # every group of 4 along the reduction axis has at least 2 zeros
    pruned: bool = False

    def __post_init__(self) -> None:
        if (self.reason is None) != (not self.detail):
            raise ValueError(f"{self.node}: a detail goes with a reason, and only with one")
        if self.zero_fraction is not None and not 0.0 <= self.zero_fraction <= 1.0:
            raise ValueError(f"{self.node}: zero fraction {self.zero_fraction} outside [0, 1]")
        if self.axis is not None and not 0 <= self.axis < len(self.shape):
            raise ValueError(f"{self.node}: axis {self.axis} outside shape {self.shape}")
        if self.is_2_4 and (self.axis is None or self.zero_fraction is None):
            raise ValueError(f"{self.node}: 2:4 claimed for an unknown weight")
        if self.pruned and not (self.applies and self.is_2_4):
            raise ValueError(f"{self.node}: pruned, yet not an applicable 2:4 layer")

    @property
    def applies(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shape": list(self.shape), "applies": self.applies,
                "reason": None if self.reason is None else self.reason.value}


@dataclass(frozen=True)
class SparsityReport:
    """Every weight-bearing layer of a model, in graph order, as the rules judged it."""

    layers: tuple[LayerSparsity, ...]
    min_channels: int

    def __post_init__(self) -> None:
        if self.min_channels < GROUP:
            raise ValueError(f"min_channels must be at least {GROUP}, got {self.min_channels}")
        if len({layer.node for layer in self.layers}) != len(self.layers):
            raise ValueError("two layers share a node name")

    @property
    def pruned_layers(self) -> tuple[LayerSparsity, ...]:
        return tuple(layer for layer in self.layers if layer.pruned)

    @property
    def sparse_layers(self) -> tuple[LayerSparsity, ...]:
        """Layers whose weights are 2:4 now, pruned here or before."""
        return tuple(layer for layer in self.layers if layer.is_2_4)

    @property
    def skipped(self) -> dict[str, Reason]:
        return {layer.node: layer.reason for layer in self.layers if layer.reason is not None}

    @property
    def zero_fraction(self) -> float:
        """Share of zeros over the known weights of these layers (a shared weight counts once)."""
        known = {layer.weight: (int(np.prod(layer.shape)), layer.zero_fraction)
                 for layer in self.layers if layer.zero_fraction is not None}
        total = sum(size for size, _ in known.values())
        return sum(size * share for size, share in known.values()) / total if total else 0.0

    @property
    def summary(self) -> str:
        """One line, e.g. "5 of 8 layers 2:4-sparse, 49% of weights zero; dense: 2 too_small"."""
        line = (f"{len(self.sparse_layers)} of {len(self.layers)} layers 2:4-sparse, "
                f"{self.zero_fraction:.0%} of weights zero")
        if self.pruned_layers:
            line += f" ({len(self.pruned_layers)} pruned now)"
        reasons = [layer.reason.value for layer in self.layers
                   if layer.reason is not None and not layer.is_2_4]
        if reasons:
            line += "; dense: " + ", ".join(f"{reasons.count(reason)} {reason}"
                                            for reason in dict.fromkeys(reasons))
        return line

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": "2:4", "min_channels": self.min_channels, "summary": self.summary,
                "zero_fraction": round(self.zero_fraction, 6),
                "pruned": [layer.node for layer in self.pruned_layers],
                "layers": [layer.to_dict() for layer in self.layers]}


def check_sparsity(model: ModelProto, min_channels: int = DEFAULT_MIN_CHANNELS,
                   skip: Collection[str] = ()) -> SparsityReport:
    """Judge every weight-bearing layer of ``model`` against the rules; changes nothing."""
    return SparsityReport(tuple(_judge(layer) for layer in _layers(model, min_channels, skip)),
                          min_channels)


def prune_2_4(model: ModelProto, min_channels: int = DEFAULT_MIN_CHANNELS,
              skip: Collection[str] = ()) -> tuple[ModelProto, SparsityReport]:
    """A copy of ``model`` with every layer where 2:4 applies magnitude-pruned into it; the
    others stay as they are, reported with the reason (never an error). ``model`` is unchanged."""
    pruned = ModelProto()
    pruned.CopyFrom(model)
    done: dict[str, npt.NDArray[Any]] = {}
    results = []
    for layer in _layers(pruned, min_channels, skip):
        if layer.reason is not None or layer.values is None or layer.axis is None:
            results.append(_judge(layer))
            continue
        if layer.weight not in done:  # a shared weight is pruned once, for all its readers
            keep = mask_2_4(layer.values, layer.axis)
            done[layer.weight] = np.where(keep, layer.values, np.zeros_like(layer.values))
            _store(pruned, layer.weight, done[layer.weight])
        results.append(replace(_judge(replace(layer, values=done[layer.weight])), pruned=True))
    return pruned, SparsityReport(tuple(results), min_channels)


def mask_2_4(weights: npt.NDArray[Any], axis: int) -> npt.NDArray[np.bool_]:
    """Keep-mask of ASP's ``m4n2_1d``: the 2 largest |w| of each group of 4 along ``axis``."""
    groups = _groups(np.abs(weights.astype(np.float64)), axis)
    keep = np.zeros(groups.shape, dtype=bool)
    order = np.argsort(-groups, axis=-1, kind="stable")
    np.put_along_axis(keep, order[..., :GROUP - ZEROS], True, axis=-1)
    return np.moveaxis(keep.reshape(np.moveaxis(weights, axis, -1).shape), -1, axis)


def is_2_4(weights: npt.NDArray[Any], axis: int) -> bool:
    """Whether every group of 4 along ``axis`` holds at least 2 zeros (TensorRT's check)."""
    return weights.shape[axis] % GROUP == 0 and bool(
        ((_groups(weights, axis) == 0).sum(axis=-1) >= ZEROS).all())


def _groups(weights: npt.NDArray[Any], axis: int) -> npt.NDArray[Any]:
    """``weights`` as [..., n, 4]: consecutive groups of 4 along ``axis``, moved last."""
    moved = np.moveaxis(weights, axis, -1)
    if moved.shape[-1] % GROUP:
        raise ValueError(f"axis {axis} of {weights.shape} is not a multiple of {GROUP}")
    return moved.reshape(*moved.shape[:-1], -1, GROUP)


@dataclass(frozen=True)
class _Layer:  # a weight-bearing node as the walk finds it, with its weight's values
    node: str
    op: str
    weight: str
    shape: tuple[int, ...]
    axis: int | None
    values: npt.NDArray[Any] | None
    reason: Reason | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Geometry:  # what a handler knows: reduction and output axes, or why 2:4 cannot apply
    axis: int
    out_axis: int
    reason: Reason | None = None
    detail: str = ""


def _conv(node: NodeProto, shape: tuple[int, ...]) -> _Geometry:
    group = _attribute(node, "group", 1)
    if group > 1 and len(shape) > 1:
        kind = "depthwise" if shape[1] == 1 else f"grouped ({group} groups of {shape[1]} channels)"
        return _Geometry(1, 0, Reason.GROUPED,
                         f"{kind} convolution: TensorRT has no sparse kernels for group convs")
    return _Geometry(1, 0)


def _conv_transpose(node: NodeProto, shape: tuple[int, ...]) -> _Geometry:
    return _Geometry(0, 1, Reason.UNSUPPORTED, "ConvTranspose: TensorRT documents 2:4 for "
                     "convolution and fully-connected weights, and ASP does not prune it")


def _recurrent(node: NodeProto, shape: tuple[int, ...]) -> _Geometry:  # W: [dirs, gates*h, in]
    return _Geometry(2, 1, Reason.UNSUPPORTED, f"{node.op_type}: no sparse recurrent kernels")


def _gemm(node: NodeProto, shape: tuple[int, ...]) -> _Geometry:
    return _Geometry(1, 0) if _attribute(node, "transB", 0) else _Geometry(0, 1)


def _matmul(node: NodeProto, shape: tuple[int, ...]) -> _Geometry:
    if len(shape) == 1:
        return _Geometry(0, 0, Reason.TOO_SMALL, "MatMul with a vector B has one output")
    return _Geometry(len(shape) - 2, len(shape) - 1)


def _not_a_layer(node: NodeProto, shape: tuple[int, ...]) -> None:
    return None  # the default: every other op carries no weight of its own


#: The graph pass: op type -> handler (``_not_a_layer`` for every other op).
HANDLERS: Mapping[str, Callable[[NodeProto, tuple[int, ...]], _Geometry | None]] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm, "MatMul": _matmul,
    "LSTM": _recurrent, "GRU": _recurrent, "RNN": _recurrent,
}


def _layers(model: ModelProto, min_channels: int, skip: Collection[str]) -> list[_Layer]:
    graph, used = model.graph, set()
    constants = {init.name: init for init in graph.initializer}
    constants.update({out: attr.t for node in graph.node if node.op_type == "Constant"
                      for attr in node.attribute if attr.name == "value" for out in node.output})
    producers = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[str]] = {}
    layers: list[_Layer] = []
    for index, node in enumerate(graph.node):
        name = node.name if node.name and node.name not in used else \
            f"{node.name or node.op_type}_{index}"  # unnamed, or named twice: still one row each
        used.add(name)
        for tensor in [*node.input, *_subgraph_inputs(node)]:
            readers.setdefault(tensor, []).append(name)
        handler = HANDLERS.get(node.op_type, _not_a_layer)
        if handler is _not_a_layer or len(node.input) < 2:
            continue
        weight = node.input[1]
        try:
            values, reason, detail = _weight_values(weight, constants, producers)
        except (ValueError, TypeError, KeyError, OSError) as error:  # e.g. unloaded external data
            values, reason, detail = None, Reason.NOT_CONSTANT, f"weight unreadable: {error}"
        shape = () if values is None else tuple(values.shape)
        geometry = handler(node, shape)
        if geometry is None:
            continue
        if values is not None and reason in (None, Reason.QUANTIZED):  # a reason to stay dense
            structural = _check_shape(node.op_type, geometry, shape, min_channels)  # even as float
            reason, detail = structural if structural[0] is not None else (reason, detail)
        if reason is None and (name in skip or weight in skip):
            reason, detail = Reason.SKIPPED, "named in skip"
        axis = geometry.axis if values is not None and geometry.axis < len(shape) else None
        layers.append(_Layer(name, node.op_type, weight, shape, axis, values, reason, detail))
    return _shared(layers, readers)


def _weight_values(weight: str, constants: Mapping[str, TensorProto],
                   producers: Mapping[str, NodeProto],
                   ) -> tuple[npt.NDArray[Any] | None, Reason | None, str]:
    if weight in constants:
        tensor, dtype = constants[weight], constants[weight].data_type
        return (numpy_helper.to_array(tensor), None, "") if dtype in FLOAT_TYPES else (
            numpy_helper.to_array(tensor), Reason.DTYPE,
            f"weight of type {helper.tensor_dtype_to_string(dtype)}")
    producer = producers.get(weight)
    if producer is None:
        return None, Reason.NOT_CONSTANT, "weight is a graph input, not an initializer"
    if producer.op_type == "DequantizeLinear":
        return (_dequantized(producer, constants, producers), Reason.QUANTIZED,
                "weight is quantized (DequantizeLinear): prune the float model, then quantize")
    return None, Reason.NOT_CONSTANT, f"weight is computed by a {producer.op_type} node"


def _dequantized(node: NodeProto, constants: Mapping[str, TensorProto],
                 producers: Mapping[str, NodeProto]) -> npt.NDArray[Any] | None:
    """The values a DequantizeLinear gives its layer (zeros exact), or None if not constant."""
    source, quantize = node.input[0], producers.get(node.input[0])
    if quantize is not None and quantize.op_type == "QuantizeLinear":  # QAT: Q/DQ on a float
        source = quantize.input[0]
        return numpy_helper.to_array(constants[source]) if source in constants else None
    if any(name and name not in constants for name in node.input):
        return None
    quantized = numpy_helper.to_array(constants[source]).astype(np.float64)
    scale, zero = (numpy_helper.to_array(constants[node.input[i]]).astype(np.float64)
                   if len(node.input) > i and node.input[i] else np.zeros(1) for i in (1, 2))
    if scale.ndim > 1:
        return None  # blocked quantization (opset 21): not worth decoding for a report
    axis = _attribute(node, "axis", 1) % quantized.ndim
    view = [-1 if dim == axis else 1 for dim in range(quantized.ndim)]
    result: npt.NDArray[Any] = (quantized - zero.reshape(view if zero.size > 1 else -1)) \
        * scale.reshape(view if scale.size > 1 else -1)
    return result


def _check_shape(op: str, geometry: _Geometry, shape: tuple[int, ...],
                 min_channels: int) -> tuple[Reason | None, str]:
    if geometry.reason is not None:
        return geometry.reason, geometry.detail
    if max(geometry.axis, geometry.out_axis) >= len(shape):
        return Reason.UNSUPPORTED, f"{op} weight of rank {len(shape)}"
    reduction, out = shape[geometry.axis], shape[geometry.out_axis]
    if reduction % GROUP:
        return Reason.NOT_MULTIPLE_OF_4, f"{reduction} reduction channels, not a multiple of 4"
    if reduction < min_channels or out < min_channels:
        return Reason.TOO_SMALL, f"{reduction} in, {out} out: below min_channels {min_channels}"
    if reduction % ALIGN_REDUCTION or out % ALIGN_OUT:
        return Reason.TOO_SMALL, (f"{reduction} in, {out} out: not tensor-core aligned "
                                  f"(in % {ALIGN_REDUCTION}, out % {ALIGN_OUT}, as ASP)")
    return None, ""


def _shared(layers: list[_Layer], readers: Mapping[str, list[str]]) -> list[_Layer]:
    """Rule 6: a weight read by several nodes is pruned for all of them or for none."""
    by_weight: dict[str, dict[str, _Layer]] = {}
    for layer in layers:
        by_weight.setdefault(layer.weight, {})[layer.node] = layer
    result = []
    for layer in layers:
        peers = by_weight[layer.weight]
        blocking = sorted(r for r in readers.get(layer.weight, []) if r != layer.node and (
            r not in peers or peers[r].reason is not None or peers[r].axis != layer.axis))
        result.append(layer if layer.reason is not None or not blocking else replace(
            layer, reason=Reason.SHARED, detail=f"weight also read by {', '.join(blocking)}, "
                                                "which cannot take the same 2:4 pattern"))
    return result


def _judge(layer: _Layer) -> LayerSparsity:
    values, axis = layer.values, layer.axis
    sparse = values is not None and axis is not None and is_2_4(values, axis)
    return LayerSparsity(layer.node, layer.op, layer.weight, layer.shape, axis, layer.reason,
                         layer.detail, None if values is None else float(np.mean(values == 0)),
                         sparse)


def _store(model: ModelProto, name: str, values: npt.NDArray[Any]) -> None:
    """Write ``values`` back where weight ``name`` lives: an initializer or a Constant node."""
    tensors = [init for init in model.graph.initializer if init.name == name] + [
        attr.t for node in model.graph.node if node.op_type == "Constant" and name in node.output
        for attr in node.attribute if attr.name == "value" and attr.type == AttributeProto.TENSOR]
    tensors[0].CopyFrom(numpy_helper.from_array(values, tensors[0].name))


def _subgraph_inputs(node: NodeProto) -> list[str]:
    """Tensors that nodes in ``node``'s subgraphs (If, Loop, Scan bodies) read."""
    graphs = [graph for attr in node.attribute
              for graph in ([attr.g] if attr.type == AttributeProto.GRAPH else attr.graphs)]
    return [tensor for graph in graphs for inner in graph.node
            for tensor in [*inner.input, *_subgraph_inputs(inner)]]


def _attribute(node: NodeProto, name: str, default: int) -> int:
    return next((int(helper.get_attribute_value(attr)) for attr in node.attribute
                 if attr.name == name), default)
