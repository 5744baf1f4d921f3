"""Which precision switches a build turns on, decided before TensorRT is touched.

The recipe asks for fp32 / fp16 / int8 / best; what TensorRT can do with that depends on its
version and on what the optimisation stages produced (a Q/DQ model, a calibration cache or
feeds). :func:`plan_precision` makes every decision here, as plain data, so each rule is a
test (the builder only applies the plan):

- TensorRT 8.4 - 10.x, *weakly typed*: builder flags let TensorRT pick lower precision per
  layer. INT8 sets FP16 too (layers without an INT8 kernel run in FP16, not FP32). A Q/DQ model
  is built with INT8 on (explicit quantization); without one, INT8 needs an implicit
  calibrator (feeds or a cache; deprecated from 10.1). A DLA takes no Q/DQ model (it
  supports implicit quantization only), so an INT8 DLA build parses the float
  graph and calibrates it implicitly, from the cache the Q/DQ stage wrote from the same
  ranges. ``high_precision_layers`` are pinned
  (FP16 in INT8 builds, FP32 otherwise) with ``OBEY_PRECISION_CONSTRAINTS``. We stay weakly
  typed on 10.x even for Q/DQ models: strong typing would keep the layers outside Q/DQ pairs
  in the ONNX's FP32.
- TensorRT 11, *strongly typed only*: no precision flags, no calibrators, no per-layer
  precision. INT8 comes only from Q/DQ nodes, FP16 only from FP16 types in the ONNX; a recipe
  asking for more than the model carries gets an engine of what it carries, and says so.
  TensorRT 11 has no DLA support at all: a DLA target builds for the GPU when the recipe
  allows the fallback, else it is refused (the builder's placement step).
"""

from __future__ import annotations

from dataclasses import dataclass

from onnx import ModelProto, TensorProto

from edge_runtime.config.recipe import EngineRecipe, Precision, TargetDevice
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion
from edge_runtime.errors import UserError


@dataclass(frozen=True)
class PrecisionPlan:
    """The precision side of one build."""

    strongly_typed: bool
    fp16: bool
    int8: bool
    #: Attach an implicit INT8 calibrator (TensorRT < 11, INT8 without Q/DQ).
    calibrate: bool
    #: ``DataType`` member to pin ``high_precision_layers`` to, None when not pinning.
    pin_to: str | None
    #: What the engine will be, for the manifest.
    effective: Precision
    notes: tuple[str, ...] = ()
    #: Build from the float source graph instead of the Q/DQ one (INT8 on a DLA, < 11).
    float_graph: bool = False


def onnx_has_fp16(model: ModelProto) -> bool:
    """Whether the model already carries FP16 tensors (weights or declared values)."""
    graph = model.graph
    if any(t.data_type == TensorProto.FLOAT16 for t in graph.initializer):
        return True
    values = [*graph.input, *graph.output, *graph.value_info]
    return any(v.type.tensor_type.elem_type == TensorProto.FLOAT16 for v in values)


def plan_precision(recipe: EngineRecipe, version: TrtVersion, *, quantized: bool,
                   has_calibration: bool, model_has_fp16: bool,
                   pin_layers: bool = False) -> PrecisionPlan:
    """The precision plan for ``recipe`` on ``version`` (see the module docstring)."""
    # a TensorRT without DLA support never builds for one (the builder's placement decides)
    on_dla = recipe.target.device is not TargetDevice.GPU and version.has_dla
    plan = _strongly_typed(recipe, quantized, model_has_fp16, pin_layers) \
        if not version.has_weak_typing \
        else _weakly_typed(recipe, version, quantized, has_calibration, pin_layers, on_dla)
    if on_dla and plan.effective is Precision.FP32 and not recipe.target.gpu_fallback:
        raise UserError("a DLA runs only fp16 or int8 layers; set precision: fp16 (or int8), "
                        "target the GPU, or allow target.gpu_fallback", key="precision")
    return plan


def _weakly_typed(recipe: EngineRecipe, version: TrtVersion, quantized: bool,
                  has_calibration: bool, pin_layers: bool, on_dla: bool) -> PrecisionPlan:
    wanted = recipe.precision
    notes: list[str] = []
    float_graph = quantized and on_dla
    if float_graph:
        if not has_calibration:
            raise UserError("INT8 on a DLA needs a calibration cache (a DLA takes no Q/DQ "
                            "model); add a calibration section",
                            key="calibration")
        notes.append("DLA INT8: built from the float graph with the calibration cache "
                     "(implicit quantization), not from the Q/DQ model")
        quantized = False
    if wanted is Precision.FP32 and not quantized:
        return PrecisionPlan(False, False, False, False, "FLOAT" if pin_layers else None,
                             Precision.FP32)
    if wanted is Precision.FP16 and not quantized:
        return PrecisionPlan(False, True, False, False, "FLOAT" if pin_layers else None,
                             Precision.FP16)
    int8 = quantized or has_calibration
    if wanted is Precision.INT8 and not int8:
        raise UserError("int8 needs calibration data (a calibration cache or feeds) or a Q/DQ "
                        "model; add a calibration section to the recipe", key="precision")
    if not int8:  # best, nothing to calibrate with
        notes.append("precision best without calibration data or a Q/DQ model: built fp16")
        return PrecisionPlan(False, True, False, False, "FLOAT" if pin_layers else None,
                             Precision.FP16, tuple(notes))
    calibrate = not quantized
    if calibrate and version.implicit_int8_deprecated:
        notes.append(f"implicit INT8 calibration is deprecated since TensorRT 10.1 (this is "
                     f"{version.short}) and gone in 11; Q/DQ models are the lasting path")
    if quantized and wanted in (Precision.FP32, Precision.FP16):
        notes.append(f"the model has Q/DQ nodes: built int8 although {wanted.value} was asked")
    return PrecisionPlan(False, True, True, calibrate, "HALF" if pin_layers else None,
                         Precision.INT8, tuple(notes), float_graph)


def _strongly_typed(recipe: EngineRecipe, quantized: bool, model_has_fp16: bool,
                    pin_layers: bool) -> PrecisionPlan:
    wanted = recipe.precision
    notes = ["TensorRT 11 builds strongly typed: each layer runs in the type the ONNX gives it"]
    if wanted is Precision.INT8 and not quantized:
        raise UserError("TensorRT 11 builds INT8 only from Q/DQ models (implicit calibration "
                        "was removed); quantize the ONNX with Q/DQ nodes or choose fp16",
                        key="precision")
    if quantized:
        effective = Precision.INT8
    elif model_has_fp16:
        effective = Precision.FP16
    else:
        effective = Precision.FP32
        if wanted is not Precision.FP32:
            notes.append(f"precision {wanted.value} asked but the ONNX is fp32: built fp32 "
                         "(convert the model to fp16, e.g. ModelOpt AutoCast)")
    if pin_layers:
        notes.append("high-precision layers are not pinned on TensorRT 11: the Q/DQ model "
                     "leaves them unquantized")
    return PrecisionPlan(True, False, False, False, None, effective, tuple(notes))
