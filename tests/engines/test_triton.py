"""The triton backend against a real Triton Inference Server (PyTriton's tritonserver, started
on free ports on 127.0.0.1 for this module): the builder checks the served model against the
recipe's ONNX, the runner's outputs equal onnxruntime's on the same input, and a server that is
gone is an ``EngineUnavailableError`` in one line, never a hang."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.config.recipe import BackendName, EngineRecipe
from edge_runtime.engines.backends.onnxrt import OnnxRuntimeRunner
from edge_runtime.engines.cache import EngineCache
from edge_runtime.engines.registry import EngineContext, build_engine, make_runner, resolve_backend
from edge_runtime.errors import EngineUnavailableError, UserError
from edge_runtime.triton.launch import TritonModelSpec, TritonServer, free_port
from tests.conftest import REPO

MODELS = REPO / "engines" / "models"
DETECTOR = MODELS / "shapes_detector.onnx"


@pytest.fixture(scope="module")
def server() -> Iterator[TritonServer]:
    models = [TritonModelSpec(name="detector", onnx=DETECTOR, max_batch_size=4,
                              max_queue_delay_us=1000)]
    with TritonServer(models) as running:
        yield running


def recipe(url: str, **triton: object) -> EngineRecipe:
    return EngineRecipe.model_validate({
        "name": "detector_remote", "onnx": str(DETECTOR), "precision": "fp32",
        "backend": "triton", "max_batch": 4,
        "inputs": {"image": {"min": [1, 3, 120, 160], "opt": [1, 3, 120, 160],
                             "max": [4, 3, 120, 160]}},
        "triton": {"url": url, "model": "detector", **triton}})


def frames(count: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 3, 120, 160), dtype=np.float32)


def test_outputs_equal_onnxruntime_on_the_same_frames(server: TritonServer,
                                                      tmp_path: Path) -> None:
    context = EngineContext(cache=EngineCache(tmp_path / "cache"))
    remote = build_engine(recipe(server.url), BackendName.TRITON, context).artifact
    assert remote.manifest.backend == "triton"
    assert remote.manifest.lane == f"triton@{server.url}"
    assert remote.manifest.backend_options["version"] == "1"
    local_recipe = recipe(server.url).model_copy(update={"backend": BackendName.ONNXRUNTIME,
                                                         "triton": None})
    local = build_engine(local_recipe, BackendName.ONNXRUNTIME, context).artifact
    runner = make_runner(remote, context)
    with runner, OnnxRuntimeRunner(local) as reference:
        assert runner.remote and runner.max_batch == 4
        for batch in (1, 3):
            feed = {"image": frames(batch, seed=batch)}
            got = runner.infer(feed)["detections"]
            want = reference.infer(feed)["detections"]
            np.testing.assert_allclose(np.asarray(got, np.float32),
                                       np.asarray(want, np.float32), rtol=1e-5, atol=1e-5)
            assert runner.last_device_time_s > 0


def test_the_cache_records_the_served_version_not_a_plan(server: TritonServer,
                                                         tmp_path: Path) -> None:
    context = EngineContext(cache=EngineCache(tmp_path / "cache"))
    first = build_engine(recipe(server.url), BackendName.TRITON, context)
    again = build_engine(recipe(server.url), BackendName.TRITON, context)
    assert not first.cache_hit and again.cache_hit
    assert f"{server.url}/detector@1" == first.artifact.manifest.device
    assert b'"version": "1"' in first.artifact.plan


def test_a_model_the_server_lacks_is_one_line(server: TritonServer, tmp_path: Path) -> None:
    context = EngineContext(cache=EngineCache(tmp_path / "cache"))
    with pytest.raises(UserError, match="has no model 'segmenter'") as caught:
        build_engine(recipe(server.url, model="segmenter"), BackendName.TRITON, context)
    assert caught.value.key == "triton.model" and "\n" not in str(caught.value)


def test_a_model_that_is_not_the_recipes_onnx_is_refused(server: TritonServer,
                                                         tmp_path: Path) -> None:
    other = recipe(server.url).model_copy(update={"onnx": MODELS / "shapes_classifier.onnx",
                                                  "inputs": {}})
    context = EngineContext(cache=EngineCache(tmp_path / "cache"))
    with pytest.raises(UserError, match="serve the same model as the recipe's ONNX"):
        build_engine(other, BackendName.TRITON, context)


def test_no_server_is_unavailable_not_a_hang(tmp_path: Path) -> None:
    context = EngineContext(cache=EngineCache(tmp_path / "cache"))
    with pytest.raises(EngineUnavailableError, match="unreachable"):  # a hang: pytest-timeout
        build_engine(recipe(f"127.0.0.1:{free_port()}"), BackendName.TRITON, context)


def test_a_request_past_its_time_is_a_timeout(server: TritonServer, tmp_path: Path) -> None:
    context = EngineContext(cache=EngineCache(tmp_path / "cache"))
    runner = make_runner(build_engine(recipe(server.url), BackendName.TRITON, context).artifact,
                         context)
    with runner:
        runner.timeout_s = 1e-6
        with pytest.raises(TimeoutError, match="no answer within"):
            runner.infer({"image": frames(1)})
        runner.timeout_s = None
        assert runner.infer({"image": frames(1)})["detections"].shape == (1, 300, 13)
        assert runner.probe() is None


def test_backend_choice() -> None:
    remote = recipe("127.0.0.1:8001")
    assert resolve_backend("onnxruntime", remote) is BackendName.TRITON  # it names a server
    local = EngineRecipe.model_validate({"onnx": str(DETECTOR)})
    with pytest.raises(UserError, match="names none"):
        resolve_backend("triton", local)


def test_a_triton_recipe_names_its_server() -> None:
    with pytest.raises(ValueError, match="backend triton needs triton"):
        EngineRecipe.model_validate({"onnx": str(DETECTOR), "backend": "triton"})
    with pytest.raises(ValueError, match="only read with backend: triton"):
        EngineRecipe.model_validate({"onnx": str(DETECTOR),
                                     "triton": {"url": "127.0.0.1:8001"}})
    assert recipe("grpc://box.local:8001").triton.address == "box.local:8001"  # type: ignore[union-attr]


def test_the_cli_says_a_server_is_down_in_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from edge_runtime.cli.main import main

    path = tmp_path / "remote.yaml"
    path.write_text(f"onnx: {DETECTOR}\nbackend: triton\n"
                    f"triton: {{url: '127.0.0.1:{free_port()}', model: detector}}\n"
                    "inputs: {image: {shape: [1, 3, 120, 160]}}\n")
    assert main(["build", str(path), "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unreachable" in err and "triton.url" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"onnx: {DETECTOR}\nbackend: triton\ntriton: {{url: box.local}}\n")
    assert main(["build", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.yaml:3: triton.url: give the server's gRPC endpoint as HOST:PORT" in err
