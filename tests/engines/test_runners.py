"""Runners: the base checks, the simulated Jetson's mock runner and the onnxruntime runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from edge_runtime.config import load_power_profile, load_recipe
from edge_runtime.config.recipe import BackendName, EngineRecipe, MockOutputs
from edge_runtime.engines import EngineCache, EngineContext, build_engine, make_runner
from edge_runtime.engines.base import RunnerError
from edge_runtime.engines.registry import resolve_backend
from edge_runtime.errors import MissingDependencyError
from edge_runtime.sim import Lane, SimulatedJetson


@pytest.fixture
def device() -> SimulatedJetson:
    profile = load_power_profile("jetson-agx-orin-32gb")
    return SimulatedJetson(profile, profile.find_mode("40W"))


def image() -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)


def test_mock_outputs_have_the_engines_shapes_and_take_the_modelled_time(
        tiny_recipe: Path, cache: EngineCache, device: SimulatedJetson) -> None:
    ctx = EngineContext(cache=cache, device=device)
    artifact = build_engine(load_recipe(tiny_recipe), BackendName.MOCK, ctx).artifact
    assert artifact.manifest.lane == "gpu"
    assert artifact.manifest.labels == ["a", "b", "c", "d"]
    with make_runner(artifact, ctx, MockOutputs.SYNTHETIC) as runner:
        outputs = runner.infer({"image": image()})
        assert outputs["logits"].shape == (1, 4) and not outputs["logits"].any()
        at_40w = runner.last_device_time_s
        device.apply_mode(device.profile.find_mode("15W"))  # type: ignore[arg-type]
        runner.infer({"image": image()})
        assert runner.last_device_time_s > at_40w > 0
        batch4 = runner.infer({"image": np.zeros((4, 3, 32, 32), np.float32)})
        assert batch4["logits"].shape == (4, 4)


def test_mock_real_outputs_equal_onnxruntime(tiny_recipe: Path, cache: EngineCache,
                                             device: SimulatedJetson) -> None:
    ctx = EngineContext(cache=cache, device=device)
    recipe = load_recipe(tiny_recipe)
    artifact = build_engine(recipe, BackendName.MOCK, ctx).artifact
    x = image()
    expected = ort.InferenceSession(str(recipe.onnx)).run(None, {"image": x})[0]
    with make_runner(artifact, ctx) as runner:  # the recipe asks for onnxruntime outputs
        np.testing.assert_allclose(np.asarray(runner.infer({"image": x})["logits"], np.float32),
                                   expected, rtol=1e-5)
    with make_runner(build_engine(recipe, BackendName.ONNXRUNTIME, ctx).artifact, ctx) as real:
        assert real.lane == "cpu"
        np.testing.assert_allclose(np.asarray(real.infer({"image": x})["logits"], np.float32),
                                   expected, rtol=1e-5)
        assert real.last_device_time_s > 0


def test_runner_checks_catch_misuse(tiny_recipe: Path, cache: EngineCache,
                                    device: SimulatedJetson) -> None:
    ctx = EngineContext(cache=cache, device=device)
    runner = make_runner(build_engine(load_recipe(tiny_recipe), BackendName.MOCK, ctx).artifact,
                         ctx)
    with pytest.raises(RunnerError, match="not active"):
        runner.infer({"image": image()})
    with runner:
        with pytest.raises(RunnerError, match="takes inputs"):
            runner.infer({"x": image()})
        with pytest.raises(RunnerError, match="must be float32"):
            runner.infer({"image": image().astype(np.float64)})
        with pytest.raises(RunnerError, match="shape"):
            runner.infer({"image": np.zeros((1, 3, 16, 32), np.float32)})
    assert not runner.is_active


def test_dla_target_on_a_module_without_dla_falls_back_to_the_gpu(
        tiny_recipe: Path, cache: EngineCache) -> None:
    nano = SimulatedJetson(load_power_profile("jetson-orin-nano-8gb"))
    recipe = EngineRecipe.model_validate(
        {**load_recipe(tiny_recipe).model_dump(), "target": {"device": "dla0"}})
    manifest = build_engine(recipe, BackendName.MOCK, EngineContext(cache=cache,
                                                                    device=nano)).artifact.manifest
    assert manifest.lane == Lane.GPU.value
    assert any("falls back to the GPU" in note for note in manifest.notes)


def test_backend_auto_is_the_simulated_jetson_without_tensorrt(tiny_recipe: Path) -> None:
    recipe = load_recipe(tiny_recipe)
    assert resolve_backend(None, recipe) is BackendName.MOCK
    assert resolve_backend("onnxruntime", recipe) is BackendName.ONNXRUNTIME
    from edge_runtime.engines.registry import make_builder

    with pytest.raises(MissingDependencyError, match=r"edge-runtime\[tensorrt\]"):
        make_builder(BackendName.TENSORRT, EngineContext())
