"""INT8 under the accuracy gate: quantize, measure, and if the drop is too large keep the most
sensitive layers in higher precision and try again; fail naming layers and figures.

Sensitivity of a layer = how much of the INT8 model's output error disappears when only that
layer is left in float (measured on a subset of the evaluation samples, by 1 - cosine
similarity of the outputs). Layers are then kept in float in order of sensitivity, a few more at
each attempt, until the task metric is within the limit or half the layers are in float.
"""

from __future__ import annotations

from collections.abc import Sequence

from onnx import ModelProto

from edge_runtime.errors import GateFailedError
from edge_runtime.optimize.accuracy import AccuracyReport, Evaluator
from edge_runtime.optimize.calibration import ActivationRanges
from edge_runtime.optimize.progress import Progress
from edge_runtime.optimize.quantize import Activations, QuantReport, quantize


def attempts(layers: int) -> list[int]:
    """How many layers to keep in float at each attempt: 1, 2, 3, 4, 6, 8, 12, ... <= half."""
    steps, k = [], 1
    while k <= max(layers // 2, 1):
        steps.append(k)
        k = k + 1 if k < 4 else k * 3 // 2
    return steps


def sensitivity(model: ModelProto, ranges: ActivationRanges, layers: tuple[str, ...],
                evaluator: Evaluator, progress: Progress,
                activations: Activations = Activations.INT8,
                op_types: Sequence[str] | None = None) -> dict[str, float]:
    """Output error removed by keeping each layer alone in float (bigger = more sensitive)."""
    base_model, _ = quantize(model, ranges, activations=activations, op_types=op_types)
    base = evaluator.proxy_error(base_model)
    found = {}
    for index, name in enumerate(layers):
        candidate, _ = quantize(model, ranges, exclude=[name], activations=activations,
                                op_types=op_types)
        found[name] = round(base - evaluator.proxy_error(candidate), 8)
        progress.step("sensitivity", index + 1, len(layers))
    return found


def int8_under_gate(model: ModelProto, ranges: ActivationRanges, evaluator: Evaluator,
                    limit: float | None, progress: Progress,
                    activations: Activations = Activations.INT8,
                    op_types: Sequence[str] | None = None
                    ) -> tuple[ModelProto, QuantReport, AccuracyReport]:
    """The Q/DQ model that passes the gate, its layer report and its accuracy report."""
    progress.message(f"quantizing to INT8 (Q/DQ, {activations.value} activations) and "
                     "evaluating against FP32")
    quantized, report = quantize(model, ranges, activations=activations, op_types=op_types)
    accuracy = evaluator.compare(quantized, "int8").with_limit(limit)
    if accuracy.passed:
        return quantized, report, accuracy
    progress.message(f"{accuracy.summary()} exceeds {limit} pt: measuring layer sensitivity")
    ranking = sensitivity(model, ranges, report.int8, evaluator, progress, activations,
                          op_types)
    order = sorted(ranking, key=lambda name: -ranking[name])
    for keep in attempts(len(order)):
        kept = order[:keep]
        quantized, report = quantize(model, ranges, exclude=kept, activations=activations,
                                     op_types=op_types)
        accuracy = evaluator.compare(quantized, "int8").with_limit(limit, kept, ranking)
        progress.message(f"kept {keep} layer(s) in float: {accuracy.summary()}")
        if accuracy.passed:
            return quantized, report, accuracy
    worst = ", ".join(f"{name} ({ranking[name]:.2e})" for name in order[:5])
    raise GateFailedError(
        f"INT8 accuracy gate failed: {accuracy.summary()}, limit {limit} pt, even with "
        f"{len(accuracy.kept_high_precision)} of {len(order)} layers kept in float; most "
        f"sensitive layers (output error removed): {worst}. Raise max_accuracy_drop, "
        "calibrate with more or more representative data, or build fp16",
        key="max_accuracy_drop")
