"""Models the project has never seen: dynamic axes, several inputs and outputs, non-image inputs
(audio frames, recurrent state, token ids), opsets 11 to 21. Every one builds in every
precision and with 2:4, on the simulated Jetson and on onnxruntime; what cannot be quantized or
pruned is reported and left in higher precision, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import ModelProto, TensorProto, helper, numpy_helper

from edge_runtime.config import load_power_profile
from edge_runtime.config.recipe import BackendName, EngineRecipe
from edge_runtime.engines import EngineCache, EngineContext, build_engine, make_runner
from edge_runtime.sim import SimulatedJetson

RNG = np.random.default_rng(0)


def weight(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.normal(0, 0.2, shape).astype(np.float32), name)


def finish(graph: onnx.GraphProto, opset: int = 17) -> ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 10
    onnx.checker.check_model(model)
    return model


def dynamic_image(opset: int = 17) -> ModelProto:
    """image[N,3,H,W] -> Conv3x3(32) -> Relu -> Conv3x3(32) -> Relu -> GlobalAveragePool
    -> Flatten -> Gemm(5) -> scores[N,5]   (any H, W)"""
    return finish(helper.make_graph(
        [helper.make_node("Conv", ["image", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
         helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
         helper.make_node("Relu", ["c2"], ["r2"]),
         helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
         helper.make_node("Flatten", ["g"], ["f"]),
         helper.make_node("Gemm", ["f", "wf"], ["scores"], transB=1, name="fc")],
        "dynamic_image",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 5])],
        [weight("w1", 32, 3, 3, 3), weight("w2", 32, 32, 3, 3), weight("wf", 5, 32)]), opset)


def two_heads() -> ModelProto:
    """image[N,3,16,16] -> Conv(32) -> GAP -> Flatten -> f;  meta[N,4]
    concat(f, meta) -> Gemm(8) -> logits[N,8];  f -> Gemm(2) -> box[N,2]"""
    return finish(helper.make_graph(
        [helper.make_node("Conv", ["image", "w1"], ["c1"], name="conv"),
         helper.make_node("GlobalAveragePool", ["c1"], ["g"]),
         helper.make_node("Flatten", ["g"], ["f"]),
         helper.make_node("Concat", ["f", "meta"], ["fm"], axis=1),
         helper.make_node("Gemm", ["fm", "wl"], ["logits"], transB=1, name="head_cls"),
         helper.make_node("Gemm", ["f", "wb"], ["box"], transB=1, name="head_box")],
        "two_heads",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 16, 16]),
         helper.make_tensor_value_info("meta", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 8]),
         helper.make_tensor_value_info("box", TensorProto.FLOAT, ["N", 2])],
        [weight("w1", 32, 3, 3, 3), weight("wl", 8, 36), weight("wb", 2, 32)]))


def audio() -> ModelProto:
    """audio[N,1,4000] -> Conv1d(k=9, 32, stride 4) -> Relu -> Conv1d(k=9, 32, stride 4)
    -> ReduceMean(time) -> Gemm(10) -> classes[N,10]"""
    return finish(helper.make_graph(
        [helper.make_node("Conv", ["audio", "w1"], ["c1"], strides=[4], name="conv_a"),
         helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "w2"], ["c2"], strides=[4], name="conv_b"),
         helper.make_node("ReduceMean", ["c2"], ["m"], axes=[2], keepdims=0),
         helper.make_node("Gemm", ["m", "wf"], ["classes"], transB=1, name="fc")],
        "audio", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["N", 1, 4000])],
        [helper.make_tensor_value_info("classes", TensorProto.FLOAT, ["N", 10])],
        [weight("w1", 32, 1, 9), weight("w2", 32, 32, 9), weight("wf", 10, 32)]))


def recurrent() -> ModelProto:
    """x[T,1,16], h0[1,1,32] -> GRU(32) -> y[T,1,1,32], h[1,1,32]: recurrent state in and out
    (sequence-major, batch on axis 1)"""
    return finish(helper.make_graph(
        [helper.make_node("GRU", ["x", "w", "r", "", "", "h0"], ["y", "h"], hidden_size=32,
                          name="gru")],
        "recurrent",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 1, 16]),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 1, 1, 32]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, 32])],
        [weight("w", 1, 96, 16), weight("r", 1, 96, 32)]), 14)


def tokens(opset: int = 21) -> ModelProto:
    """ids[N,S] (int64) -> Gather(embedding[100,32]) -> MatMul(32x32) -> Relu
    -> ReduceMean(S) -> MatMul(32x4) -> intent[N,4]"""
    return finish(helper.make_graph(
        [helper.make_node("Gather", ["embedding", "ids"], ["e"], name="embed"),
         helper.make_node("MatMul", ["e", "w1"], ["h1"], name="proj"),
         helper.make_node("Relu", ["h1"], ["r1"]),
         helper.make_node("ReduceMean", ["r1", "axis"], ["pooled"], keepdims=0),
         helper.make_node("MatMul", ["pooled", "w2"], ["intent"], name="head")],
        "tokens", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", "S"])],
        [helper.make_tensor_value_info("intent", TensorProto.FLOAT, ["N", 4])],
        [weight("embedding", 100, 32), weight("w1", 32, 32), weight("w2", 32, 4),
         numpy_helper.from_array(np.array([1], np.int64), "axis")]), opset)


def tensors_npz(path: Path, arrays: dict[str, np.ndarray[Any, Any]]) -> Path:
    named: dict[str, Any] = dict(arrays)
    np.savez(path, **named)
    return path


CASES: dict[str, tuple[Callable[[], ModelProto], dict[str, Any], Callable[[int],
                                                                           dict[str, Any]]]] = {
    "dynamic_image_opset11": (
        lambda: dynamic_image(11),
        {"image": {"min": [1, 3, 16, 16], "opt": [1, 3, 32, 32], "max": [4, 3, 64, 64]}},
        lambda n: {"image": RNG.uniform(0, 1, (n, 3, 32, 32)).astype(np.float32)}),
    "two_heads": (two_heads, {},
                  lambda n: {"image": RNG.uniform(0, 1, (n, 3, 16, 16)).astype(np.float32),
                             "meta": RNG.normal(0, 1, (n, 4)).astype(np.float32)}),
    "audio": (audio, {},
              lambda n: {"audio": RNG.normal(0, 0.3, (n, 1, 4000)).astype(np.float32)}),
    "recurrent": (recurrent, {"x": {"shape": [12, 1, 16]}},
                  lambda n: {"x": RNG.normal(0, 1, (n, 12, 1, 16)).astype(np.float32),
                             "h0": RNG.normal(0, 0.1, (n, 1, 1, 32)).astype(np.float32)}),
    "tokens_opset21": (tokens, {"ids": {"min": [1, 4], "opt": [1, 16], "max": [8, 64]}},
                       lambda n: {"ids": RNG.integers(0, 100, (n, 16)).astype(np.int64)}),
}


@pytest.fixture(scope="module")
def device() -> SimulatedJetson:
    return SimulatedJetson(load_power_profile("jetson-agx-orin-32gb"))


@pytest.mark.parametrize("backend", [BackendName.MOCK, BackendName.ONNXRUNTIME])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_any_model_builds_runs_and_reports(case: str, precision: str, backend: BackendName,
                                           tmp_path: Path, device: SimulatedJetson) -> None:
    make, inputs, data = CASES[case]
    model = make()
    onnx.save(model, tmp_path / f"{case}.onnx")
    calib = tensors_npz(tmp_path / "calib.npz", data(24))
    recipe = EngineRecipe.model_validate({
        "onnx": tmp_path / f"{case}.onnx", "name": case, "precision": precision,
        "inputs": inputs, "calibration": {"data": str(calib), "batches": 3, "batch_size": 8},
        "evaluation": {"frames": 24}, "max_accuracy_drop": 5.0})
    context = EngineContext(cache=EngineCache(tmp_path / "cache"), device=device)
    built = build_engine(recipe, backend, context)
    manifest = built.artifact.manifest
    assert {s.name for s in manifest.inputs} == {i.name for i in model.graph.input}
    if precision == "int8":
        assert manifest.accuracy is not None and manifest.accuracy["metric"] == "agreement"
        assert manifest.accuracy["passed"]
        assert {"model.qdq.onnx", "calibration.cache"} <= set(built.artifact.files)
    if precision == "fp16":
        assert manifest.accuracy is not None and manifest.accuracy["drop"] < 1.0
    sample = {name: values[:1] if values.ndim == len(next(
        s for s in manifest.inputs if s.name == name).shape) else values[0]
        for name, values in data(1).items()}
    with make_runner(built.artifact, context) as runner:
        outputs = runner.infer(sample)
    assert set(outputs) == {o.name for o in model.graph.output}
    assert all(np.isfinite(np.asarray(v, dtype=np.float64)).all() for v in outputs.values())


@pytest.mark.parametrize("case", sorted(CASES))
def test_2_4_sparsity_prunes_what_applies_and_reports_the_rest(case: str, tmp_path: Path,
                                                               device: SimulatedJetson) -> None:
    make, inputs, data = CASES[case]
    onnx.save(make(), tmp_path / f"{case}.onnx")
    recipe = EngineRecipe.model_validate({
        "onnx": tmp_path / f"{case}.onnx", "name": case, "precision": "fp16",
        "sparsity": "2:4", "inputs": inputs,
        "evaluation": {"data": str(tensors_npz(tmp_path / "eval.npz", data(16))),
                       "frames": 16}})
    built = build_engine(recipe, BackendName.MOCK,
                         EngineContext(cache=EngineCache(tmp_path / "c"), device=device))
    report = built.artifact.manifest.sparsity_report
    assert report is not None and report["layers"]  # recurrent weights too, as unsupported
    for layer in report["layers"]:
        assert layer["is_2_4"] or layer["reason"] is not None or not layer["applies"]
    assert built.artifact.manifest.accuracy is not None
