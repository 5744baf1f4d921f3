"""Q/DQ models from activation ranges, with onnxruntime's own QDQ quantizer.

What ``quantize_static`` does after calibrating, done here from ranges we already have, so one
calibration serves every attempt of the accuracy gate. Settings are TensorRT's: symmetric INT8
activations and weights (zero point 0), per-channel weights, QuantizeLinear/DequantizeLinear
pairs (explicit quantization, the only INT8 path on TensorRT 11).

onnxruntime's x86 kernels want the other signedness: their fast VNNI/AMX paths take unsigned
activations with signed weights (U8S8); signed activations (S8S8) run slower than FP32 there
(measured in bench/int8.py). Our ranges are symmetric, so an activation type of ``uint8`` puts
the same range on a uint8 grid with zero point 128 - the model an onnxruntime-on-x86 build runs.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from onnx import ModelProto, version_converter

from edge_runtime.graph.analysis import COMPUTE_OPS
from edge_runtime.optimize.calibration import ActivationRanges


@dataclass(frozen=True)
class QuantReport:
    """Which compute layers run in INT8, which stay in higher precision, and why."""

    int8: tuple[str, ...]
    kept_by_gate: tuple[str, ...] = ()
    not_quantizable: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def layer_precisions(self, high: str = "fp16") -> dict[str, str]:
        precisions = dict.fromkeys(self.int8, "int8")
        precisions.update(dict.fromkeys(self.kept_by_gate, high))
        precisions.update(dict.fromkeys(self.not_quantizable, high))
        return precisions

    def to_dict(self) -> dict[str, object]:
        return {"int8": list(self.int8), "kept_by_gate": list(self.kept_by_gate),
                "not_quantizable": self.not_quantizable, "notes": list(self.notes)}


def compute_nodes(model: ModelProto) -> list[str]:
    """Names of the nodes that carry a layer's arithmetic (candidates for INT8)."""
    return [node.name for node in model.graph.node if node.op_type in COMPUTE_OPS and node.name]


class Activations(str, enum.Enum):
    """Element type of quantized activations."""

    INT8 = "int8"
    """Signed, zero point 0: TensorRT, DLA, ARM CPUs."""
    UINT8 = "uint8"
    """Unsigned, zero point 128 for our symmetric ranges: onnxruntime's fast x86 kernels."""


def quantize(model: ModelProto, ranges: ActivationRanges, exclude: Sequence[str] = (),
             activations: Activations = Activations.INT8,
             op_types: Sequence[str] | None = None) -> tuple[ModelProto, QuantReport]:
    """The Q/DQ model for ``model`` with ``ranges``; nodes in ``exclude`` stay in float;
    ``op_types`` (default: every type onnxruntime's quantizer takes) limits which are
    quantized (a transformer: its MatMuls, the usual BERT recipe)."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer
    from onnxruntime.quantization.quant_utils import (
        save_and_reload_model_with_shape_infer,
        update_opset_version,
    )

    # the op types quantize_static quantizes: with Add among them, residual adds get Q/DQ pairs
    # (onnxruntime fuses them into QLinearAdd; TensorRT's Q/DQ placement wants them too)
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    named, per_channel, notes = _per_channel_ready(_with_node_names(model))
    prepared = save_and_reload_model_with_shape_infer(update_opset_version(named, QuantType.QInt8))
    quantizer = QDQQuantizer(
        prepared, per_channel, False, QuantType.QInt8,
        QuantType.QInt8 if activations is Activations.INT8 else QuantType.QUInt8,
        ranges.tensors_data(),
        [], list(exclude),
        list(op_types) if op_types else sorted(set(QDQRegistry) | set(QLinearOpsRegistry)),
        {"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    quantizer.quantize_model()
    quantized: ModelProto = quantizer.model.model
    return quantized, _report(named, quantized, exclude, notes, op_types)


#: Per-channel QuantizeLinear/DequantizeLinear (their ``axis``) arrived in ONNX opset 13.
PER_CHANNEL_OPSET = 13


def _per_channel_ready(model: ModelProto) -> tuple[ModelProto, bool, tuple[str, ...]]:
    """Per-channel weights need opset 13: older models are converted (or, if the converter
    cannot, quantized per tensor); either way the report says so."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset >= PER_CHANNEL_OPSET:
        return model, True, ()
    try:
        converted = version_converter.convert_version(model, PER_CHANNEL_OPSET)
    except Exception as exc:  # the converter raises many types for ops it cannot convert
        return model, False, (f"opset {opset}: per-tensor weights (could not convert to "
                              f"opset {PER_CHANNEL_OPSET}: {type(exc).__name__})",)
    return converted, True, (f"opset {opset} converted to {PER_CHANNEL_OPSET} for per-channel "
                             "Q/DQ",)


def _with_node_names(model: ModelProto) -> ModelProto:
    """A copy whose nodes all have names (exporters leave some empty; the gate names them)."""
    copy = ModelProto()
    copy.CopyFrom(model)
    used = {node.name for node in copy.graph.node if node.name}
    for index, node in enumerate(copy.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)
    return copy


def _report(original: ModelProto, quantized: ModelProto, exclude: Sequence[str],
            notes: tuple[str, ...], op_types: Sequence[str] | None = None) -> QuantReport:
    """INT8 = every node of the model that now reads a dequantized input (compute layers, and
    element-wise ops such as a residual add or a detector's box decoding: the gate may have to
    keep any of them in float); compute layers left in float are reported with the reason."""
    producers = {out: node.op_type for node in quantized.graph.node for out in node.output}
    by_name = {node.name: node for node in quantized.graph.node}
    compute = set(compute_nodes(original))
    int8, missing = [], {}
    for node in original.graph.node:
        if not node.name or node.name in exclude or node.op_type in QDQ_OPS:
            continue
        rewritten = by_name.get(node.name)
        if rewritten is not None and any(producers.get(i) == "DequantizeLinear"
                                         for i in rewritten.input):
            int8.append(node.name)
        elif node.name in compute and (not op_types or node.op_type in op_types):
            missing[node.name] = "onnxruntime's QDQ quantizer left it in float (unsupported " \
                                 "shape or attribute)"
    return QuantReport(tuple(int8), tuple(exclude), missing, notes)


QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
