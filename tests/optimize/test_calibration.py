"""Calibration (one onnxruntime pass, three methods), Q/DQ, the TensorRT cache and the gate,
on tiny graphs whose numbers can be worked out by hand."""

from __future__ import annotations

import struct

import numpy as np
import onnxruntime as ort
import pytest
from onnx import ModelProto, TensorProto, helper, numpy_helper

from edge_runtime.config.recipe import CalibrationMethod
from edge_runtime.errors import GateFailedError
from edge_runtime.graph.tensors import TensorSpec
from edge_runtime.optimize.accuracy import Evaluator, fp16_weights
from edge_runtime.optimize.calibration import (
    ActivationRanges,
    RangesStore,
    TensorRange,
    calibrate,
)
from edge_runtime.optimize.data import Sample, batched, fingerprint
from edge_runtime.optimize.gate import attempts, int8_under_gate
from edge_runtime.optimize.progress import QuietProgress
from edge_runtime.optimize.quantize import quantize
from edge_runtime.optimize.trt_cache import read_cache, version_tag, write_cache


def scale_model() -> ModelProto:
    """x[N,4] -> Mul(x, 2) -> y -> Relu -> z   (y = 2x, z = max(2x, 0))"""
    two = numpy_helper.from_array(np.full((1, 4), 2.0, np.float32), "two")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"], name="double"),
         helper.make_node("Relu", ["y"], ["z"], name="relu")],
        "scale", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4])], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def conv_model(seed: int = 0) -> ModelProto:
    """image[N,3,8,8] -> Conv3x3(8) -> Relu -> Conv1x1(4) -> GlobalAveragePool -> Flatten
    -> logits[N,4]"""
    rng = np.random.default_rng(seed)
    weights = [numpy_helper.from_array(rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32), "w1"),
               numpy_helper.from_array(rng.normal(0, 0.5, (4, 8, 1, 1)).astype(np.float32), "w2")]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
         helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
         helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
         helper.make_node("GlobalAveragePool", ["c2"], ["g"], name="pool"),
         helper.make_node("Flatten", ["g"], ["logits"], name="flat")],
        "conv", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def samples(count: int, shape: tuple[int, ...], name: str, seed: int = 1) -> list[Sample]:
    rng = np.random.default_rng(seed)
    return [Sample({name: rng.uniform(-1, 1, (1, *shape)).astype(np.float32)})
            for _ in range(count)]


def test_minmax_ranges_are_the_symmetric_extremes_of_each_tensor() -> None:
    data = samples(16, (4,), "x")
    feeds = batched(data, 4, [TensorSpec(name="x", shape=["N", 4], dtype="float32")])
    assert len(feeds) == 4 and feeds[0]["x"].shape == (4, 4)
    ranges = calibrate(scale_model(), feeds, CalibrationMethod.MINMAX, 99.99, fingerprint(data),
                       len(data))
    largest = max(float(np.abs(s.feed["x"]).max()) for s in data)
    assert ranges.ranges["x"].amax == pytest.approx(largest, rel=1e-6)
    assert ranges.ranges["y"].amax == pytest.approx(2 * largest, rel=1e-6)
    assert ranges.ranges["y"].low == pytest.approx(-ranges.ranges["y"].high)


@pytest.mark.parametrize("method", list(CalibrationMethod))
def test_every_method_gives_finite_ranges_no_wider_than_minmax(
        method: CalibrationMethod) -> None:
    data = samples(32, (4,), "x")
    feeds = batched(data, 8, [TensorSpec(name="x", shape=["N", 4], dtype="float32")])
    minmax = calibrate(scale_model(), feeds, CalibrationMethod.MINMAX, 99.99, "d", 32)
    ranges = calibrate(scale_model(), feeds, method, 99.0, "d", 32)
    for name in ("x", "y"):
        assert 0 < ranges.ranges[name].amax <= minmax.ranges[name].amax * 1.01


def test_ranges_round_trip_validate_and_are_reused(tmp_path: pytest.TempPathFactory) -> None:
    ranges = ActivationRanges(CalibrationMethod.ENTROPY, {"a": TensorRange(-1.5, 1.5)}, "k1", 8)
    assert ActivationRanges.from_json(ranges.to_json()) == ranges
    with pytest.raises(ValueError):
        TensorRange(1.0, -1.0)
    with pytest.raises(ValueError):
        TensorRange(float("nan"), 1.0)
    store = RangesStore(tmp_path)  # type: ignore[arg-type]
    store.save(ranges)
    assert store.load("k1") == ranges
    store.path("k1").write_text("{ broken")
    assert store.load("k1") is None  # a damaged calibration is recomputed, never trusted


def test_tensorrt_calibration_cache_format() -> None:
    ranges = ActivationRanges(CalibrationMethod.ENTROPY,
                              {"input": TensorRange(-1.27, 1.27), "dead": TensorRange(0, 0)},
                              "k", 1)
    cache = write_cache(ranges, "8.5.2")
    header, scales = read_cache(cache)
    assert header == "TRT-8502-EntropyCalibration2"
    assert scales == {"input": pytest.approx(0.01)}  # amax / 127; a zero range is left out
    assert cache.decode().splitlines()[1] == f"input: {struct.pack('>f', 1.27 / 127).hex()}"
    assert version_tag("10.3.0") == "100300" and version_tag("8.5.2") == "8502"


def test_qdq_model_runs_on_onnxruntime_and_tracks_fp32() -> None:
    model = conv_model()
    data = samples(64, (3, 8, 8), "image")
    specs = [TensorSpec(name="image", shape=["N", 3, 8, 8], dtype="float32")]
    ranges = calibrate(model, batched(data, 8, specs), CalibrationMethod.MINMAX, 99.99, "d", 64)
    quantized, report = quantize(model, ranges)
    ops = {node.op_type for node in quantized.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert {"conv1", "conv2"} <= set(report.int8)  # with the element-wise ops between them
    x = data[0].feed["image"]
    reference = ort.InferenceSession(model.SerializeToString()).run(None, {"image": x})[0]
    got = ort.InferenceSession(quantized.SerializeToString()).run(None, {"image": x})[0]
    cosine = float((reference * got).sum() / np.linalg.norm(reference) / np.linalg.norm(got))
    assert cosine > 0.99
    kept, report = quantize(model, ranges, exclude=["conv2"])
    assert "conv1" in report.int8 and "conv2" not in report.int8
    assert report.kept_by_gate == ("conv2",)
    precisions = report.layer_precisions()
    assert precisions["conv1"] == "int8" and precisions["conv2"] == "fp16"
    conv2 = next(node for node in kept.graph.node if node.name == "conv2")
    assert conv2.input[1] == "w2"  # its weight stays float: no DequantizeLinear in front


def test_gate_passes_keeps_sensitive_layers_or_fails_naming_them() -> None:
    model = conv_model()
    specs = [TensorSpec(name="image", shape=["N", 3, 8, 8], dtype="float32")]
    data = samples(64, (3, 8, 8), "image")
    evaluator = Evaluator(model, samples(32, (3, 8, 8), "image", seed=2), decoder=None)
    assert evaluator.metric == "agreement" and evaluator.reference_score == 100.0
    good = calibrate(model, batched(data, 8, specs), CalibrationMethod.MINMAX, 99.99, "d", 64)
    _, _, report = int8_under_gate(model, good, evaluator, 1.0, QuietProgress())
    assert report.passed and report.kept_high_precision == ()
    # absurdly narrow ranges clip everything: the gate cannot pass and names the layers
    bad = ActivationRanges(CalibrationMethod.MINMAX,
                           {name: TensorRange(-1e-3, 1e-3) for name in good.ranges}, "b", 1)
    with pytest.raises(GateFailedError, match="conv") as failure:
        int8_under_gate(model, bad, evaluator, 0.01, QuietProgress())
    assert "limit 0.01 pt" in failure.value.message
    assert attempts(20) == [1, 2, 3, 4, 6, 9]


def test_fp16_weight_rounding_changes_weights_only_slightly() -> None:
    model = conv_model()
    rounded = fp16_weights(model)
    before = numpy_helper.to_array(model.graph.initializer[0])
    after = numpy_helper.to_array(rounded.graph.initializer[0])
    assert after.dtype == np.float32 and not np.array_equal(before, after)
    np.testing.assert_allclose(after, before, rtol=1e-3)


def test_streaming_evaluation_gives_the_same_figures_as_cached(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Big outputs are not all kept in memory: the reference runs again beside each candidate."""
    model = conv_model()
    evaluation = samples(16, (3, 8, 8), "image", seed=3)
    candidate = fp16_weights(model)
    cached = Evaluator(model, evaluation, decoder=None).compare(candidate, "fp16")
    monkeypatch.setattr("edge_runtime.optimize.accuracy.REFERENCE_BUDGET_BYTES", 0)
    streaming = Evaluator(model, evaluation, decoder=None)
    assert streaming._cached is None
    assert streaming.compare(candidate, "fp16") == cached
