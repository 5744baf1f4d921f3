"""Precision plans across TensorRT 8.5 / 10.x / 11, decided before TensorRT is touched."""

from __future__ import annotations

from typing import Any

import pytest
from onnx import TensorProto, helper

from edge_runtime.config.recipe import EngineRecipe, Precision
from edge_runtime.engines.backends.tensorrt.precision import (
    PrecisionPlan,
    onnx_has_fp16,
    plan_precision,
)
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion
from edge_runtime.errors import UserError
from tests.conftest import tiny_classifier

JP5, JP6, TRT11 = TrtVersion.parse("8.5.2.2"), TrtVersion.parse("10.3.0.30"), TrtVersion(11)


def plan(version: TrtVersion, precision: str, *, quantized: bool = False,
         calibration: bool = False, fp16_model: bool = False, pin: bool = False,
         **recipe: Any) -> PrecisionPlan:
    parsed = EngineRecipe.model_validate({"onnx": "m.onnx", "precision": precision, **recipe})
    return plan_precision(parsed, version, quantized=quantized, has_calibration=calibration,
                          model_has_fp16=fp16_model, pin_layers=pin)


@pytest.mark.parametrize("version", [JP5, JP6])
def test_weakly_typed_flags(version: TrtVersion) -> None:
    assert plan(version, "fp32") == PrecisionPlan(False, False, False, False, None,
                                                  Precision.FP32)
    fp16 = plan(version, "fp16", pin=True)
    assert (fp16.fp16, fp16.int8, fp16.pin_to) == (True, False, "FLOAT")
    implicit = plan(version, "int8", calibration=True, pin=True)
    assert (implicit.fp16, implicit.int8, implicit.calibrate, implicit.pin_to) == \
        (True, True, True, "HALF")
    explicit = plan(version, "int8", quantized=True, calibration=True)
    assert (explicit.int8, explicit.calibrate, explicit.strongly_typed) == (True, False, False)


def test_int8_without_data_is_the_users_to_fix() -> None:
    with pytest.raises(UserError, match="int8 needs calibration data"):
        plan(JP6, "int8")
    best = plan(JP6, "best")
    assert best.effective is Precision.FP16 and "built fp16" in best.notes[0]


def test_implicit_calibration_is_flagged_deprecated_from_10_1() -> None:
    assert not plan(JP5, "int8", calibration=True).notes
    assert "deprecated since TensorRT 10.1" in plan(JP6, "int8", calibration=True).notes[0]


def test_dla_int8_builds_the_float_graph_with_the_cache_before_11() -> None:
    dla = {"device": "dla0"}
    got = plan(JP5, "int8", quantized=True, calibration=True, target=dla)
    assert got.float_graph and got.calibrate and got.int8
    with pytest.raises(UserError, match="DLA needs a calibration cache"):
        plan(JP5, "int8", quantized=True, target=dla)
    assert not plan(JP5, "int8", quantized=True, calibration=True).float_graph  # GPU: Q/DQ


def test_dla_refuses_fp32_without_fallback() -> None:
    with pytest.raises(UserError, match="DLA runs only fp16 or int8"):
        plan(JP5, "fp32", target={"device": "dla1", "gpu_fallback": False})
    assert plan(JP5, "fp32", target={"device": "dla1"}).effective is Precision.FP32


def test_tensorrt_11_is_strongly_typed_only() -> None:
    with pytest.raises(UserError, match="INT8 only from Q/DQ models"):
        plan(TRT11, "int8", calibration=True)
    qdq = plan(TRT11, "int8", quantized=True, pin=True)
    assert (qdq.strongly_typed, qdq.fp16, qdq.int8, qdq.calibrate, qdq.pin_to) == \
        (True, False, False, False, None)
    assert qdq.effective is Precision.INT8 and any("not pinned" in n for n in qdq.notes)
    fp32_model = plan(TRT11, "fp16")
    assert fp32_model.effective is Precision.FP32
    assert any("the ONNX is fp32" in n for n in fp32_model.notes)
    assert plan(TRT11, "fp16", fp16_model=True).effective is Precision.FP16


def test_onnx_has_fp16() -> None:
    assert not onnx_has_fp16(tiny_classifier())
    half = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1])]))
    assert onnx_has_fp16(half)
