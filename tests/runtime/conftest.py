"""Pipeline sets on the tiny classifier, for driving one Runtime through its life."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.config.loading import LoadedPipelineSet, load_pipeline_set
from edge_runtime.pipelines.sources import Source
from edge_runtime.runtime.runtime import ClockName, Runtime, RuntimeOptions

Write = Callable[[str, str], Path]
MakeRuntime = Callable[..., Runtime]


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[MakeRuntime]:
    """A runtime over a pipeline set file, with its engine cache in tmp_path; shut down at the
    end of the test whatever state it is in."""
    made: list[Runtime] = []

    def _make(path: Path | LoadedPipelineSet, clock: ClockName = "sim",
              sources: Mapping[str, Source] | None = None, **options: object) -> Runtime:
        loaded = path if isinstance(path, LoadedPipelineSet) else load_pipeline_set(path)
        runtime = Runtime(loaded, clock=clock, sources=sources, options=RuntimeOptions(
            cache_dir=tmp_path / "cache", **options))  # type: ignore[arg-type]
        made.append(runtime)
        return runtime

    yield _make
    for runtime in made:
        if runtime.state.value != "finalized":
            runtime.shutdown()


def heavy_model(path: Path, layers: int = 28, size: int = 512, width: int = 64) -> None:
    """image[1,3,size,size] -> Conv(3->width) -> layers x Conv3x3(width->width) -> out (no compute
    happens here: the simulated Jetson only costs it)."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.1, (width, 3, 3, 3)).astype(np.float32),
                                       "w0")]
    nodes = [helper.make_node("Conv", ["image", "w0"], ["t0"], pads=[1, 1, 1, 1])]
    for i in range(1, layers + 1):
        weights.append(numpy_helper.from_array(
            rng.normal(0, 0.1, (width, width, 3, 3)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("Conv", [f"t{i - 1}", f"w{i}"], [f"t{i}"],
                                      pads=[1, 1, 1, 1]))
    graph = helper.make_graph(
        nodes, "heavy", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                       [1, 3, size, size])],
        [helper.make_tensor_value_info(f"t{layers}", TensorProto.FLOAT, [1, width, size, size])],
        weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


CRITICAL_BESIDE_HEAVY = """
    device: jetson-agx-orin-32gb
    power_mode: {power_mode}
    pipelines:
      - name: critical
        source: {{type: synthetic_camera, width: 32, height: 32, fps: 30}}
        engine: tiny.yaml
        priority: critical
        deadline_ms: 33
      - name: heavy
        source: {{type: synthetic_camera, width: 32, height: 32, fps: {heavy_fps}}}
        engine: heavy.yaml
        priority: best_effort
        deadline_ms: 1000
"""
CriticalBesideHeavy = Callable[..., Path]


@pytest.fixture
def critical_beside_heavy(write: Write, tiny_recipe: Path, tmp_path: Path
                          ) -> CriticalBesideHeavy:
    """A pipeline set: a critical 30 Hz pipeline on the tiny engine and a best-effort one on a
    heavy engine (``heavy_model(layers, size)``) sharing its GPU lane."""
    del tiny_recipe

    def _write(power_mode: str, layers: int, size: int = 512, heavy_fps: int = 30) -> Path:
        heavy_model(tmp_path / "heavy.onnx", layers=layers, size=size)
        # fp32: these tests are about scheduling; fp16 would also run the accuracy gate
        write("heavy.yaml", "onnx: heavy.onnx\nprecision: fp32\n")
        return write("critical_beside_heavy.yaml", CRITICAL_BESIDE_HEAVY.format(
            power_mode=power_mode, heavy_fps=heavy_fps))

    return _write
