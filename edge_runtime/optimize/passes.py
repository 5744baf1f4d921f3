"""The optimisation stages in order: [2:4 prune] -> [calibrate -> Q/DQ under the gate] -> build.

``optimize`` takes the user's FP32 model and the recipe and returns what the backend builds:
the model (pruned and/or Q/DQ), the TensorRT calibration cache from the same ranges, the layer
precisions, and the reports (sparsity, accuracy) that go into the engine's manifest. Every build
that changes the numbers (INT8, FP16, 2:4) is evaluated against FP32 (``accuracy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from onnx import ModelProto

from edge_runtime.config.recipe import EngineRecipe, Precision, Sparsity
from edge_runtime.config.stages import CommandsPost, PreprocessConfig, TokenizeConfig
from edge_runtime.errors import GateFailedError, UserError
from edge_runtime.graph.metadata import model_labels
from edge_runtime.graph.tensors import TensorSpec
from edge_runtime.optimize import data as data_
from edge_runtime.optimize.accuracy import AccuracyReport, Evaluator, fp16_weights
from edge_runtime.optimize.calibration import ActivationRanges, RangesStore, calibrate
from edge_runtime.optimize.calibration import fingerprint as calibration_key
from edge_runtime.optimize.gate import int8_under_gate
from edge_runtime.optimize.progress import Progress
from edge_runtime.optimize.quantize import Activations, QuantReport, quantize
from edge_runtime.optimize.trt_cache import write_cache
from edge_runtime.pipelines.postprocess import Decoder, make_decoder
from edge_runtime.pipelines.preprocess import spatial_size
from edge_runtime.pipelines.text import CommandDecoder, TokenInput

QDQ_FILE = "model.qdq.onnx"
TRT_CACHE_FILE = "calibration.cache"
RANGES_FILE = "ranges.json"
PRUNED_FILE = "model.pruned.onnx"


@dataclass(frozen=True)
class Optimized:
    """What the stages produced for one recipe."""

    model: ModelProto
    source: ModelProto
    quantized: bool = False
    calibration_cache: bytes | None = None
    ranges: ActivationRanges | None = None
    quant: QuantReport | None = None
    sparsity: dict[str, Any] | None = None
    accuracy: AccuracyReport | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def high_precision_layers(self) -> tuple[str, ...]:
        return self.accuracy.kept_high_precision if self.accuracy is not None else ()

    @property
    def layer_precisions(self) -> dict[str, str]:
        return self.quant.layer_precisions() if self.quant is not None else {}


def needs_pipeline(recipe: EngineRecipe) -> bool:
    """Whether the stages would read the pipeline's own frames for this recipe."""
    if recipe.precision is Precision.FP32 and recipe.sparsity is Sparsity.NONE:
        return False
    evaluation = recipe.evaluation.data or recipe.calibration.data
    calibrates = recipe.precision in (Precision.INT8, Precision.BEST)
    return evaluation.source == "pipeline" or (calibrates
                                                and recipe.calibration.data.source == "pipeline")


def optimize(recipe: EngineRecipe, model: ModelProto, inputs: Sequence[TensorSpec],
             pipeline: data_.PipelineData | None, store: RangesStore,
             progress: Progress, activations: Activations = Activations.INT8) -> Optimized:
    """Run the stages the recipe asks for. ``activations`` is the INT8 flavour the backend
    runs (see ``quantize``); the exported Q/DQ model is always TensorRT's signed one."""
    notes: list[str] = []
    working, sparsity = _sparsify(recipe, model, notes, progress)
    if recipe.precision is Precision.FP32 and working is model:
        return Optimized(model, model, notes=tuple(notes))
    evaluator = _evaluator(recipe, model, inputs, pipeline, notes, progress)
    files: dict[str, bytes] = {}
    if working is not model:
        files[PRUNED_FILE] = working.SerializeToString()
    if recipe.precision in (Precision.INT8, Precision.BEST):
        if evaluator is None:
            raise UserError("INT8 needs evaluation data for its accuracy gate; give "
                            "calibration.data or evaluation.data a source", key="evaluation")
        ranges = _ranges(recipe, working, inputs, pipeline, store, progress)
        op_types = recipe.calibration.op_types
        quantized, quant, accuracy = int8_under_gate(working, ranges, evaluator,
                                                     recipe.max_accuracy_drop, progress,
                                                     activations, op_types)
        exported = quantized if activations is Activations.INT8 else quantize(
            working, ranges, exclude=accuracy.kept_high_precision, op_types=op_types)[0]
        cache = write_cache(ranges)
        notes.extend(quant.notes)
        if quant.not_quantizable:
            notes.append(f"left in float by the quantizer: {', '.join(quant.not_quantizable)}")
        files.update({QDQ_FILE: exported.SerializeToString(), TRT_CACHE_FILE: cache,
                      RANGES_FILE: ranges.to_json().encode()})
        return Optimized(quantized, model, True, cache, ranges, quant, sparsity, accuracy, files,
                         tuple(notes))
    report = _gate_float(recipe, working, evaluator, progress) if evaluator else None
    return Optimized(working, model, sparsity=sparsity, accuracy=report, files=files,
                     notes=tuple(notes))


def _sparsify(recipe: EngineRecipe, model: ModelProto, notes: list[str],
              progress: Progress) -> tuple[ModelProto, dict[str, Any] | None]:
    if recipe.sparsity is not Sparsity.TWO_FOUR:
        return model, None
    from edge_runtime.optimize.sparsity import check_sparsity, prune_2_4

    current = check_sparsity(model)
    if current.sparse_layers and all(layer.is_2_4 for layer in current.layers
                                     if layer.applies):
        notes.append(f"weights already 2:4-sparse ({current.summary})")
        return model, current.to_dict()
    progress.message("pruning weights into the 2:4 pattern (magnitude)")
    pruned, report = prune_2_4(model)
    notes.append(f"pruned by magnitude: {report.summary}; fine-tune to recover accuracy "
                 "(tools/finetune_sparse.py shows how)")
    return pruned, report.to_dict()


def _evaluator(recipe: EngineRecipe, model: ModelProto, inputs: Sequence[TensorSpec],
               pipeline: data_.PipelineData | None, notes: list[str],
               progress: Progress) -> Evaluator | None:
    config = recipe.evaluation.data or recipe.calibration.data
    try:
        resolved = data_.resolve(config, pipeline, "evaluation.data")
    except UserError:
        if recipe.precision in (Precision.INT8, Precision.BEST):
            raise
        notes.append("not evaluated against FP32: no evaluation data (give evaluation.data)")
        return None
    if recipe.evaluation.data is None:
        resolved = data_.disjoint(resolved)
    progress.message(f"loading {recipe.evaluation.frames} evaluation samples")
    where = "evaluation.data" if recipe.evaluation.data is not None else "calibration.data"
    samples = data_.load_samples(resolved, inputs, recipe.evaluation.frames, where)
    decoder: Decoder | CommandDecoder | None = None
    if isinstance(resolved.preprocess, TokenizeConfig) and resolved.postprocess is not None \
            and not isinstance(resolved.postprocess, CommandsPost):
        raise UserError(f"a {resolved.postprocess.type} postprocess cannot score a text model's "
                        "outputs: give the evaluation data postprocess: {type: commands}",
                        key="evaluation.data.postprocess")
    if isinstance(resolved.postprocess, CommandsPost) \
            and isinstance(resolved.preprocess, TokenizeConfig):
        try:
            decoder = CommandDecoder(resolved.postprocess, TokenInput(resolved.preprocess),
                                     model_labels(model, "intents"),
                                     model_labels(model, "slot_tags"))
        except ValueError as exc:  # no intents or slot tags in the model's metadata
            raise UserError(f"{exc}; a commands postprocess needs them to score intents and "
                            "slots", file=recipe.onnx, key="evaluation.data.postprocess") from None
    elif resolved.postprocess is not None and not isinstance(resolved.postprocess, CommandsPost):
        layout = resolved.preprocess.layout \
            if isinstance(resolved.preprocess, PreprocessConfig) else "nchw"
        decoder = make_decoder(resolved.postprocess, model_labels(model),
                               spatial_size(inputs[0].concrete_shape(), layout))
    progress.message("running the FP32 reference")
    return Evaluator(model, samples, decoder)


def _ranges(recipe: EngineRecipe, model: ModelProto, inputs: Sequence[TensorSpec],
            pipeline: data_.PipelineData | None, store: RangesStore,
            progress: Progress) -> ActivationRanges:
    config = recipe.calibration
    resolved = data_.resolve(config.data, pipeline, "calibration.data")
    count = config.batches * config.batch_size
    progress.message(f"loading {count} calibration samples")
    samples = data_.load_samples(resolved, inputs, count, "calibration.data")
    if not samples:
        raise UserError("the calibration data gave no samples", key="calibration.data")
    data_print = data_.fingerprint(samples)
    key = calibration_key(model.SerializeToString(), data_print, config.method,
                          config.percentile)
    cached = store.load(key)
    if cached is not None:
        progress.message(f"reusing calibration {key[:12]} (same model and data)")
        return cached
    feeds = data_.batched(samples, config.batch_size, inputs)
    ranges = calibrate(model, feeds, config.method, config.percentile, data_print,
                       len(samples), progress=lambda done, total: progress.step(
                           "calibrating", done, total))
    store.save(ranges)
    return ranges


def _gate_float(recipe: EngineRecipe, model: ModelProto, evaluator: Evaluator,
                progress: Progress) -> AccuracyReport:
    if recipe.precision is Precision.FP16:
        progress.message("evaluating FP16 weights against FP32")
        candidate, label = fp16_weights(model), "fp16"
        note = "weights rounded to FP16; activations stay FP32 on this CPU (see docs)"
    else:
        candidate, label, note = model, recipe.precision.value, ""
    if recipe.sparsity is Sparsity.TWO_FOUR:
        label += "+2:4"
    report = evaluator.compare(candidate, label, note).with_limit(recipe.max_accuracy_drop)
    if not report.passed:
        raise GateFailedError(f"accuracy gate failed: {report.summary()}, limit "
                              f"{recipe.max_accuracy_drop} pt", key="max_accuracy_drop")
    return report
