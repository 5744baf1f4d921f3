"""Shared fixtures: tiny ONNX models built with onnx.helper, and config files on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.engines.cache import EngineCache

REPO = Path(__file__).resolve().parents[1]


def tiny_classifier(classes: int = 4, size: int = 32, channels: int = 8) -> onnx.ModelProto:
    """image[N,3,size,size] -> Conv3x3(channels) -> Relu -> GlobalAvgPool -> Flatten
    -> Gemm(classes) -> logits[N,classes]"""
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.3, (channels, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(channels, np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (classes, channels)).astype(np.float32), "wf"),
        numpy_helper.from_array(np.zeros(classes, np.float32), "bf"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"labels": '["a", "b", "c", "d"]'})
    return model


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_classifier(), path)
    return path


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented text file under tmp_path and return its path."""
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def tiny_recipe(tiny_onnx: Path, write: Callable[[str, str], Path]) -> Path:
    del tiny_onnx
    return write("tiny.yaml", """
        onnx: tiny.onnx
        precision: fp16
        mock: {outputs: onnxruntime}
    """)


@pytest.fixture
def cache(tmp_path: Path) -> EngineCache:
    return EngineCache(tmp_path / "cache")
