"""Fixtures: install a fake ``tensorrt`` of a chosen version for one test."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.engines.base import BuildRequest
from edge_runtime.graph.analysis import load_model, resolve_input_shapes
from tests.conftest import tiny_classifier
from tests.engines.tensorrt.fake_cuda import FakeCuda
from tests.engines.tensorrt.fakes import FakeModule, make_fake_trt

InstallTrt = Callable[..., FakeModule]


@pytest.fixture
def cuda() -> FakeCuda:
    return FakeCuda()


@pytest.fixture
def install_trt(monkeypatch: pytest.MonkeyPatch, cuda: FakeCuda) -> InstallTrt:
    """``install_trt("10.3.0.30", **options)``: that fake TensorRT is ``import tensorrt`` now."""
    def install(version: str, **options: Any) -> FakeModule:
        fake = make_fake_trt(version, cuda, **options)
        monkeypatch.setitem(sys.modules, "tensorrt", fake)
        return fake

    return install


@pytest.fixture
def no_trt(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TensorRT at all (``import tensorrt`` raises ImportError)."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


def make_request(tmp_path: Path, **recipe: Any) -> BuildRequest:
    """A build request for the tiny classifier (dynamic batch) with recipe fields ``recipe``;
    ``quantized``, ``calibration_cache``, ``calibration_feeds`` and ``high_precision_layers``
    go to the request."""
    request_fields = {k: recipe.pop(k) for k in ("quantized", "calibration_cache",
                                                 "calibration_feeds", "high_precision_layers")
                      if k in recipe}
    model = tiny_classifier()
    for index, node in enumerate(model.graph.node):
        node.name = f"{node.op_type.lower()}_{index}"
    onnx_bytes = model.SerializeToString()
    path = tmp_path / "tiny.onnx"
    path.write_bytes(onnx_bytes)
    parsed = EngineRecipe.model_validate({"onnx": str(path), "name": "tiny", **recipe})
    given = {name: profile.optimal for name, profile in parsed.inputs.items()}
    shapes = resolve_input_shapes(load_model(onnx_bytes), given, batch=1)
    return BuildRequest(parsed, onnx_bytes, load_model(onnx_bytes), shapes, "k" * 64,
                        work_dir=tmp_path / "work", **request_fields)
