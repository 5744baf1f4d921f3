"""2:4 structured sparsity on tiny hand-built graphs, and on the bundled classifiers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import ModelProto, TensorProto, helper, numpy_helper

from edge_runtime.optimize.sparsity import (
    LayerSparsity,
    Reason,
    SparsityReport,
    check_sparsity,
    mask_2_4,
    prune_2_4,
)

MODELS = Path(__file__).resolve().parents[2] / "engines" / "models"


def model(nodes: list[Any], inputs: list[Any], outputs: list[Any], weights: dict[str, Any],
          opset: int = 17, ir_version: int = 8) -> ModelProto:
    inits = [numpy_helper.from_array(np.asarray(array), name) for name, array in weights.items()]
    built = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    built.ir_version = ir_version
    onnx.checker.check_model(built)
    return built


def value(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def normal(*shape: int, seed: int = 0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)


def weight(pruned: ModelProto, name: str) -> np.ndarray[Any, Any]:
    (init,) = [i for i in pruned.graph.initializer if i.name == name]
    return numpy_helper.to_array(init)


def groups(array: np.ndarray[Any, Any], axis: int) -> np.ndarray[Any, Any]:
    """Groups of 4 consecutive values along ``axis``: [..., 4]."""
    moved = np.moveaxis(array, axis, -1)
    return moved.reshape(-1, 4)


def run(built: ModelProto, feeds: dict[str, np.ndarray[Any, Any]]) -> list[Any]:
    session = ort.InferenceSession(built.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs: list[Any] = session.run(None, feeds)
    return outputs


def layer(report: SparsityReport, node: str) -> LayerSparsity:
    (found,) = [entry for entry in report.layers if entry.node == node]
    return found


def test_conv_is_pruned_along_input_channels_keeping_the_two_largest() -> None:
    # x[1,32,8,8] -> Conv "conv" (w[32,32,3,3], pads 1) -> y[1,32,8,8]
    dense = normal(32, 32, 3, 3)
    built = model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])],
                  [value("x", [1, 32, 8, 8])], [value("y", [1, 32, 8, 8])], {"w": dense})
    pruned, report = prune_2_4(built)

    entry = layer(report, "conv")
    assert entry.pruned and entry.is_2_4 and entry.axis == 1 and entry.zero_fraction == 0.5
    sparse = weight(pruned, "w")
    before, after = groups(dense, 1), groups(sparse, 1)  # per (cout, kh, kw), 4 consecutive Cin
    assert ((after == 0).sum(axis=1) >= 2).all()
    largest = np.sort(np.argsort(-np.abs(before), axis=1)[:, :2], axis=1)
    kept = np.sort(np.argsort(after == 0, axis=1, kind="stable")[:, :2], axis=1)
    assert (largest == kept).all()
    assert (after[after != 0] == before[after != 0]).all()
    assert (weight(built, "w") == dense).all(), "the input model must not change"

    x = normal(1, 32, 8, 8, seed=1)
    (y,) = run(pruned, {"x": x})
    (reference,) = run(model(list(built.graph.node), list(built.graph.input),
                             list(built.graph.output), {"w": sparse}), {"x": x})
    assert y.shape == (1, 32, 8, 8) and np.allclose(y, reference)
    assert report.pruned_layers == (entry,)
    assert report.summary.startswith("1 of 1 layers 2:4-sparse, 50% of weights zero")
    json.dumps(report.to_dict())


def test_three_channel_first_conv_and_depthwise_conv_are_not_applicable() -> None:
    # image[1,3,16,16] -> Conv "stem" (w1[32,3,3,3]) -> Conv "dw" (w2[32,1,3,3], group 32) -> y
    built = model(
        [helper.make_node("Conv", ["image", "w1"], ["a"], name="stem", pads=[1, 1, 1, 1]),
         helper.make_node("Conv", ["a", "w2"], ["y"], name="dw", group=32, pads=[1, 1, 1, 1])],
        [value("image", [1, 3, 16, 16])], [value("y", [1, 32, 16, 16])],
        {"w1": normal(32, 3, 3, 3), "w2": normal(32, 1, 3, 3)})
    pruned, report = prune_2_4(built)
    assert layer(report, "stem").reason is Reason.NOT_MULTIPLE_OF_4
    assert "3 reduction channels" in layer(report, "stem").detail
    assert layer(report, "dw").reason is Reason.GROUPED
    assert "depthwise" in layer(report, "dw").detail
    assert not report.pruned_layers and not report.sparse_layers
    assert pruned == built
    assert report.summary == ("0 of 2 layers 2:4-sparse, 0% of weights zero; "
                              "dense: 1 not_multiple_of_4, 1 grouped")


def test_gemm_with_trans_b_is_pruned_along_k() -> None:
    # f[2,64] -> Gemm "fc" (B[32,64], transB=1: K=64 is axis 1, bias c[32]) -> y[2,32]
    dense = normal(32, 64)
    built = model([helper.make_node("Gemm", ["f", "b", "c"], ["y"], name="fc", transB=1)],
                  [value("f", [2, 64])], [value("y", [2, 32])],
                  {"b": dense, "c": np.zeros(32, np.float32)})
    pruned, report = prune_2_4(built)
    assert layer(report, "fc").pruned and layer(report, "fc").axis == 1
    sparse = weight(pruned, "b")
    assert ((groups(sparse, 1) == 0).sum(axis=1) == 2).all()
    assert not ((groups(sparse, 0) == 0).sum(axis=1) >= 2).all(), "pruned along N, not K"
    f = normal(2, 64, seed=2)
    (y,) = run(pruned, {"f": f})
    assert np.allclose(y, f @ sparse.T, atol=1e-5)


def test_small_layers_do_not_pay_and_skip_and_min_channels_are_honoured() -> None:
    # f[1,128] -> MatMul "wide" (B[128,64]) -> MatMul "narrow" (B[64,8]: 8 outputs) -> y[1,8]
    built = model(
        [helper.make_node("MatMul", ["f", "w1"], ["h"], name="wide"),
         helper.make_node("MatMul", ["h", "w2"], ["y"], name="narrow")],
        [value("f", [1, 128])], [value("y", [1, 8])],
        {"w1": normal(128, 64), "w2": normal(64, 8)})
    report = check_sparsity(built)
    assert layer(report, "wide").applies
    assert layer(report, "narrow").reason is Reason.TOO_SMALL
    assert layer(report, "narrow").zero_fraction == 0.0
    assert prune_2_4(built, skip={"wide"})[1].skipped == {
        "wide": Reason.SKIPPED, "narrow": Reason.TOO_SMALL}
    assert layer(check_sparsity(built, min_channels=128), "wide").reason is Reason.TOO_SMALL
    with pytest.raises(ValueError, match="min_channels"):
        check_sparsity(built, min_channels=2)


def test_matmul_with_a_computed_b_is_not_constant() -> None:
    # a[4,64], b[64,32] (both graph inputs) -> MatMul "attn" -> y[4,32]
    built = model([helper.make_node("MatMul", ["a", "b"], ["y"], name="attn")],
                  [value("a", [4, 64]), value("b", [64, 32])], [value("y", [4, 32])], {})
    pruned, report = prune_2_4(built)
    entry = layer(report, "attn")
    assert entry.reason is Reason.NOT_CONSTANT and entry.zero_fraction is None
    assert not entry.is_2_4 and entry.axis is None and pruned == built


def test_a_weight_shared_by_two_nodes_is_pruned_once_for_both() -> None:
    # x[2,64] -> MatMul "m1" (w[64,64]) -> Relu -> MatMul "m2" (the same w) -> y[2,64]
    dense = normal(64, 64)
    built = model(
        [helper.make_node("MatMul", ["x", "w"], ["a"], name="m1"),
         helper.make_node("Relu", ["a"], ["r"]),
         helper.make_node("MatMul", ["r", "w"], ["y"], name="m2")],
        [value("x", [2, 64])], [value("y", [2, 64])], {"w": dense})
    pruned, report = prune_2_4(built)
    assert [entry.node for entry in report.pruned_layers] == ["m1", "m2"]
    assert len(pruned.graph.initializer) == 1
    assert (weight(pruned, "w") == dense * mask_2_4(dense, 0)).all()
    assert report.zero_fraction == 0.5  # the shared weight counts once
    run(pruned, {"x": normal(2, 64)})


def test_a_weight_shared_along_different_axes_or_with_another_op_stays_dense() -> None:
    # x[32,32] -> Gemm "g0" (w[32,32])         -> a -> MatMul "mm" (u[32,32]) -> c ┐
    # x        -> Gemm "g1" (w, transB=1)      -> b -> Add "plus" (+ u)         -> d ┴ Add -> y
    # g0 and g1 reduce w along different axes; u is read by a MatMul and by an Add.
    w, u = normal(32, 32), normal(32, 32, seed=1)
    built = model(
        [helper.make_node("Gemm", ["x", "w"], ["a"], name="g0"),
         helper.make_node("Gemm", ["x", "w"], ["b"], name="g1", transB=1),
         helper.make_node("MatMul", ["a", "u"], ["c"], name="mm"),
         helper.make_node("Add", ["b", "u"], ["d"], name="plus"),
         helper.make_node("Add", ["c", "d"], ["y"])],
        [value("x", [32, 32])], [value("y", [32, 32])], {"w": w, "u": u})
    pruned, report = prune_2_4(built)
    assert {node: reason.value for node, reason in report.skipped.items()} == {
        "g0": "shared", "g1": "shared", "mm": "shared"}
    assert "plus" in layer(report, "mm").detail
    assert pruned == built


def test_an_initializer_listed_as_a_graph_input_is_a_weight() -> None:
    # IR 3 (old exporters): every initializer is a graph input too.
    # x[1,32] + w[32,32] (input and initializer) -> MatMul "mm" -> y[1,32]
    built = model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                  [value("x", [1, 32]), value("w", [32, 32])], [value("y", [1, 32])],
                  {"w": normal(32, 32)}, opset=11, ir_version=3)
    pruned, report = prune_2_4(built)
    assert layer(report, "mm").pruned
    assert [i.name for i in pruned.graph.input] == ["x", "w"]
    x = normal(1, 32, seed=3)
    (y,) = run(pruned, {"x": x})
    assert np.allclose(y, x @ weight(pruned, "w"), atol=1e-5)


@pytest.mark.parametrize("opset", [11, 13, 17, 21])
def test_a_constant_node_weight_is_pruned_in_every_opset(opset: int) -> None:
    # Constant "w"[64,32] ──┐
    # x[2,64] ───────────── MatMul "mm" -> y[2,32]
    const = helper.make_node("Constant", [], ["w"],
                             value=numpy_helper.from_array(normal(64, 32), "w"))
    built = model([const, helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                  [value("x", [2, 64])], [value("y", [2, 32])], {}, opset=opset)
    pruned, report = prune_2_4(built)
    assert layer(report, "mm").pruned
    assert check_sparsity(pruned).sparse_layers[0].node == "mm"
    run(pruned, {"x": normal(2, 64)})


def test_a_quantized_weight_is_checked_through_its_dequantize_but_never_pruned() -> None:
    # wq[32,32,1,1] int8, scale[32], zero[32] -> DequantizeLinear(axis 0) -> wd
    # x[1,32,4,4] -> Conv "qconv" (wd) -> y
    # wq holds a float weight pruned to 2:4 and quantized symmetrically: its zeros stay zeros.
    dense = normal(32, 32, 1, 1)
    scale = np.abs(dense).max(axis=(1, 2, 3)) / 127
    quantized = np.round(dense * mask_2_4(dense, 1) / scale[:, None, None, None]).astype(np.int8)
    built = model(
        [helper.make_node("DequantizeLinear", ["wq", "scale", "zero"], ["wd"], axis=0),
         helper.make_node("Conv", ["x", "wd"], ["y"], name="qconv")],
        [value("x", [1, 32, 4, 4])], [value("y", [1, 32, 4, 4])],
        {"wq": quantized, "scale": scale.astype(np.float32), "zero": np.zeros(32, np.int8)})
    pruned, report = prune_2_4(built)
    entry = layer(report, "qconv")
    assert entry.reason is Reason.QUANTIZED and not entry.pruned
    assert entry.is_2_4 and entry.zero_fraction is not None and entry.zero_fraction >= 0.5
    assert pruned == built
    run(pruned, {"x": normal(1, 32, 4, 4)})


def test_float16_weights_unnamed_nodes_and_conv_transpose() -> None:
    # x[1,32,4,4] fp16 -> Conv (unnamed, w[32,32,1,1] fp16) -> ConvTranspose "up" (wt[32,16,2,2])
    #   -> Conv "up" (a second node named "up", w2[16,16,1,1]: too small) -> y[1,16,8,8]
    half = helper.make_tensor_value_info
    built = model(
        [helper.make_node("Conv", ["x", "w"], ["a"]),
         helper.make_node("ConvTranspose", ["a", "wt"], ["b"], name="up", strides=[2, 2]),
         helper.make_node("Conv", ["b", "w2"], ["y"], name="up")],
        [half("x", TensorProto.FLOAT16, [1, 32, 4, 4])],
        [half("y", TensorProto.FLOAT16, [1, 16, 8, 8])],
        {"w": normal(32, 32, 1, 1).astype(np.float16),
         "wt": normal(32, 16, 2, 2).astype(np.float16),
         "w2": normal(16, 16, 1, 1).astype(np.float16)})
    pruned, report = prune_2_4(built)
    assert [(entry.node, entry.reason) for entry in report.layers] == [
        ("Conv_0", None), ("up", Reason.UNSUPPORTED), ("up_2", Reason.TOO_SMALL)]
    assert layer(report, "up").axis == 0 and "ConvTranspose" in layer(report, "up").detail
    assert weight(pruned, "w").dtype == np.float16 and layer(report, "Conv_0").is_2_4
    onnx.checker.check_model(pruned)  # (onnxruntime refuses duplicate node names; onnx does not)


def test_results_validate_themselves() -> None:
    with pytest.raises(ValueError, match="pruned"):
        LayerSparsity("n", "Conv", "w", (8, 8, 1, 1), 1, Reason.TOO_SMALL, "small", 0.5, True,
                      pruned=True)
    with pytest.raises(ValueError, match="zero fraction"):
        LayerSparsity("n", "Conv", "w", (8, 8, 1, 1), 1, None, "", 1.5, False)
    entry = LayerSparsity("n", "MatMul", "w", (8, 8), 0, None, "", 0.0, False)
    with pytest.raises(ValueError, match="share a node name"):
        SparsityReport((entry, entry), 32)


def test_the_bundled_sparse_classifier_is_2_4_and_the_dense_one_is_not() -> None:
    sparse = onnx.load(str(MODELS / "shapes_classifier_sparse.onnx"))
    dense = onnx.load(str(MODELS / "shapes_classifier.onnx"))
    assert {p.key: p.value for p in sparse.metadata_props}["sparsity"] == "2:4"
    report = check_sparsity(sparse)
    applicable = {entry.node for entry in report.layers if entry.applies}
    assert len(applicable) >= 5
    assert {entry.node for entry in report.sparse_layers} == applicable
    assert report.zero_fraction > 0.45
    assert not check_sparsity(dense).sparse_layers
    assert [(i.name, i.type) for i in sparse.graph.input] == [
        (i.name, i.type) for i in dense.graph.input]
    assert [(o.name, o.type) for o in sparse.graph.output] == [
        (o.name, o.type) for o in dense.graph.output]
