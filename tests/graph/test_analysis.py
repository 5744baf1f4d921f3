"""Per-layer MACs and traffic, fusion, and input shape resolution on hand-built graphs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.graph.analysis import (
    CostProfile,
    UnresolvedShapeError,
    analyse,
    resolve_input_shapes,
)
from tests.conftest import tiny_classifier


def graph(nodes: list, inputs: list, outputs: list, weights: dict[str, tuple[int, ...]]):  # type: ignore[no-untyped-def,type-arg]
    inits = [numpy_helper.from_array(np.zeros(shape, np.float32), name)
             for name, shape in weights.items()]
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def value(name: str, shape: list[int | str]):  # type: ignore[no-untyped-def]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_conv_relu_residual_add_fuse_into_their_convolutions() -> None:
    # x[1,8,16,16] -> Conv3x3(8) -> Relu -> Conv3x3(8) -> Add(+Relu out) -> y
    model = graph(
        [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
         helper.make_node("Add", ["c2", "r1"], ["y"])],
        [value("x", [1, 8, 16, 16])], [value("y", [1, 8, 16, 16])],
        {"w1": (8, 8, 3, 3), "w2": (8, 8, 3, 3)})
    cost = analyse(model, {"x": [1, 8, 16, 16]})
    assert [(layer.op_type, layer.fused) for layer in cost.layers] == [
        ("Conv", ("Relu",)), ("Conv", ("Add",))]
    per_conv = 16 * 16 * 8 * 8 * 9
    assert cost.total_macs == 2 * per_conv
    # the residual input is extra traffic of the second (fused) layer
    assert cost.layers[1].input_elements == 2 * 8 * 16 * 16
    assert cost.total_weight_elements == 2 * 8 * 8 * 9


def test_gemm_matmul_and_conv_transpose_macs() -> None:
    # a[2,4,16] x b[16,32] -> m[2,4,32];  t[1,4,8,8] -> ConvTranspose(4->2, 2x2, stride 2)
    model = graph(
        [helper.make_node("MatMul", ["a", "b"], ["m"]),
         helper.make_node("ConvTranspose", ["t", "wt"], ["u"], strides=[2, 2])],
        [value("a", [2, 4, 16]), value("t", [1, 4, 8, 8])],
        [value("m", [2, 4, 32]), value("u", [1, 2, 16, 16])],
        {"b": (16, 32), "wt": (4, 2, 2, 2)})
    cost = analyse(model, {"a": [2, 4, 16], "t": [1, 4, 8, 8]})
    macs = {layer.op_type: layer.macs for layer in cost.layers}
    assert macs["MatMul"] == 2 * 4 * 32 * 16
    assert macs["ConvTranspose"] == 1 * 4 * 8 * 8 * 2 * 2 * 2


def test_lstm_macs_count_input_and_recurrent_weights() -> None:
    # x[seq=5, batch=1, 10] -> LSTM(hidden 20)
    model = graph(
        [helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=20)],
        [value("x", [5, 1, 10])], [value("y", [5, 1, 1, 20])],
        {"w": (1, 80, 10), "r": (1, 80, 20)})
    cost = analyse(model, {"x": [5, 1, 10]})
    assert cost.total_macs == 5 * (80 * 10 + 80 * 20)


def test_dynamic_batch_defaults_to_one_and_other_dynamic_dims_need_a_shape() -> None:
    assert resolve_input_shapes(tiny_classifier(), {}) == {"image": [1, 3, 32, 32]}
    model = graph([helper.make_node("Relu", ["x"], ["y"])], [value("x", ["n", 3, "h", "w"])],
                  [value("y", ["n", 3, "h", "w"])], {})
    with pytest.raises(UnresolvedShapeError, match="dynamic"):
        resolve_input_shapes(model, {})
    assert resolve_input_shapes(model, {"x": [2, 3, 8, 8]}) == {"x": [2, 3, 8, 8]}


def test_cost_scales_with_input_size_and_round_trips_through_json() -> None:
    small = analyse(tiny_classifier(size=16), {"image": [1, 3, 16, 16]})
    large = analyse(tiny_classifier(size=32), {"image": [1, 3, 32, 32]})
    assert large.layers[0].macs == 4 * small.layers[0].macs
    assert CostProfile.from_dict(large.to_dict()) == large
