"""TensorRTRunner against the fake TensorRT (named tensors and bindings) and fake CUDA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edge_runtime.engines import EngineContext, make_runner
from edge_runtime.engines.artifact import Artifact
from edge_runtime.engines.backends.tensorrt import TensorRTBuilder, TensorRTRunner
from edge_runtime.errors import UserError
from tests.engines.tensorrt.conftest import InstallTrt, make_request
from tests.engines.tensorrt.fake_cuda import FakeCuda


def built(install_trt: InstallTrt, cuda: FakeCuda, tmp_path: Path, version: str,
          **recipe: Any) -> tuple[Any, Artifact]:
    trt = install_trt(version)
    artifact = TensorRTBuilder(cuda=cuda).build(make_request(tmp_path, **recipe))
    return trt, artifact


def expected(image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The fake engine's function: logits[n, j] = mean(image[n]) + j."""
    means = image.reshape(image.shape[0], -1).mean(axis=1)
    return np.asarray(means[:, None] + np.arange(4)[None, :], dtype=np.float32)


@pytest.mark.parametrize(("version", "execute"), [
    ("8.4.1.5", "execute_async_v2"),   # JetPack 5.0.2: bindings
    ("8.5.0.9", "execute_async_v2"),   # 8.5 early access: still bindings
    ("8.5.2.2", "execute_async_v3"),   # JetPack 5.1: named tensors
    ("10.3.0.30", "execute_async_v3"),
])
def test_outputs_round_trip_through_the_device(install_trt: InstallTrt, cuda: FakeCuda,
                                               tmp_path: Path, version: str,
                                               execute: str) -> None:
    trt, artifact = built(install_trt, cuda, tmp_path, version, max_batch=4)
    rng = np.random.default_rng(0)
    with TensorRTRunner(artifact, cuda=cuda) as runner:
        for batch in (1, 3, 2):  # the dynamic batch is set on the context every call
            image = rng.random((batch, 3, 32, 32), dtype=np.float32)
            outputs = runner.infer({"image": image})
            assert outputs["logits"].shape == (batch, 4)
            np.testing.assert_allclose(np.asarray(outputs["logits"], np.float32),
                                       expected(image), rtol=1e-6)
            assert runner.last_device_time_s == 0.0025
    runs = [e for e in trt.recorder.executions if e.startswith("execute")]
    assert runs == [execute] * 3
    shapes = [e for e in trt.recorder.executions if e.startswith("shape")]
    assert shapes == ["shape image=[1, 3, 32, 32]", "shape image=[3, 3, 32, 32]",
                      "shape image=[2, 3, 32, 32]"]
    assert cuda.memory == {} and cuda.streams == set() and cuda.events == set()


def test_buffers_are_sized_from_shapes_and_grown(install_trt: InstallTrt, cuda: FakeCuda,
                                                  tmp_path: Path) -> None:
    _, artifact = built(install_trt, cuda, tmp_path, "10.3.0.30", max_batch=4)
    with TensorRTRunner(artifact, cuda=cuda) as runner:
        runner.infer({"image": np.zeros((1, 3, 32, 32), np.float32)})
        runner.infer({"image": np.zeros((1, 3, 32, 32), np.float32)})  # reuses
        runner.infer({"image": np.zeros((4, 3, 32, 32), np.float32)})  # grows
    mallocs = [c for c in cuda.calls if c.startswith("malloc")]
    assert mallocs == [f"malloc {3 * 32 * 32 * 4}", "malloc 16",
                       f"malloc {4 * 3 * 32 * 32 * 4}", "malloc 64"]
    order = [c for c in cuda.calls if c in ("h2d", "d2h", "sync", "event")]
    assert order[:5] == ["event", "h2d", "d2h", "event", "sync"]


def test_each_runner_has_its_own_context(install_trt: InstallTrt, cuda: FakeCuda,
                                         tmp_path: Path) -> None:
    _, artifact = built(install_trt, cuda, tmp_path, "10.3.0.30")
    image = np.ones((1, 3, 32, 32), np.float32)
    a, b = TensorRTRunner(artifact, cuda=cuda), TensorRTRunner(artifact, cuda=cuda)
    with a, b:
        assert a._active is not None and b._active is not None
        assert a._active.context is not b._active.context
        np.testing.assert_array_equal(a.infer({"image": image})["logits"],
                                      b.infer({"image": image})["logits"])


def test_a_plan_from_another_tensorrt_says_rebuild(install_trt: InstallTrt, cuda: FakeCuda,
                                                   tmp_path: Path) -> None:
    _, artifact = built(install_trt, cuda, tmp_path, "8.5.2.2")
    install_trt("10.3.0.30")  # JetPack upgraded under the cache
    with pytest.raises(UserError) as caught:
        TensorRTRunner(artifact, cuda=cuda).activate()
    message = str(caught.value)
    assert "built with TensorRT 8.5.2.2 and this is TensorRT 10.3.0.30: rebuild it" in message
    assert "not compatible with this version of TensorRT" in message and "\n" not in message


def test_a_dla_plan_is_deserialized_on_its_core(install_trt: InstallTrt, cuda: FakeCuda,
                                                tmp_path: Path) -> None:
    trt, artifact = built(install_trt, cuda, tmp_path, "8.5.2.2", target={"device": "dla1"})
    with TensorRTRunner(artifact, cuda=cuda) as runner:
        assert runner.lane == "dla1"
    assert "deserialize dla_core=1" in trt.recorder.executions


def test_registry_makes_tensorrt_runners(install_trt: InstallTrt, cuda: FakeCuda,
                                         tmp_path: Path) -> None:
    _, artifact = built(install_trt, cuda, tmp_path, "10.3.0.30")
    runner = make_runner(artifact, EngineContext())
    assert isinstance(runner, TensorRTRunner) and runner.lane == "gpu"


def test_the_second_engine_keeps_its_own_reason(install_trt: InstallTrt, cuda: FakeCuda,
                                                tmp_path: Path) -> None:
    """TensorRT keeps the first logger it is given: with one runner alive, a second one's
    deserialisation error must still reach that second runner's message."""
    trt, artifact = built(install_trt, cuda, tmp_path, "10.3.0.30")
    stale = Artifact(plan=artifact.plan.replace(b'"trt": "10.3.0.30"', b'"trt": "10.3.0.31"'),
                     manifest=artifact.manifest)
    with TensorRTRunner(artifact, cuda=cuda), pytest.raises(
            UserError, match="not compatible with this version of TensorRT"):
        TensorRTRunner(stale, cuda=cuda).activate()
    assert trt.recorder.logger is not None
