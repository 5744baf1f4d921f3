"""ENGINE arguments as Triton models: recipes (name, ONNX, largest batch from the recipe) and
ONNX files (the stem, batch 8), every mistake one line naming the file; and recipes' models
served for real, their outputs equal to onnxruntime's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge_runtime.errors import UserError
from edge_runtime.triton.launch import TritonServer
from edge_runtime.triton.models import ONNX_MAX_BATCH, model_specs
from tests.conftest import REPO, tiny_classifier
from tests.triton.conftest import CLASSIFIER, COMMANDS, DETECTOR, infer, reference

ENGINES = REPO / "engines"


def test_recipes_give_name_onnx_and_largest_batch() -> None:
    specs = model_specs([ENGINES / "classifier.yaml", ENGINES / "side_detector.yaml",
                         ENGINES / "commands_nlu.yaml"], max_queue_delay_us=500)
    assert [(s.name, s.onnx, s.max_batch_size, s.max_queue_delay_us) for s in specs] == [
        ("classifier", CLASSIFIER.resolve(), 1, 500),   # inputs.image.shape [1, 3, 64, 64]
        ("side_detector", DETECTOR.resolve(), 2, 500),  # max_batch: 2
        ("commands_nlu", COMMANDS.resolve(), 8, 500)]   # inputs max [8, 64]
    (bigger,) = model_specs([ENGINES / "classifier.yaml"], max_queue_delay_us=0,
                            max_batch_size=4, instances=2, cpu_threads=3)
    assert (bigger.max_batch_size, bigger.instances, bigger.cpu_threads) == (4, 2, 3)


def test_an_onnx_file_is_served_under_its_stem() -> None:
    (spec,) = model_specs([str(DETECTOR)], max_queue_delay_us=2000)
    assert (spec.name, spec.onnx, spec.max_batch_size) == (
        "shapes_detector", DETECTOR.resolve(), ONNX_MAX_BATCH)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("missing.yaml", None, "not found"),
    ("model.txt", "hello", "neither a recipe (.yaml) nor an ONNX model (.onnx)"),
    ("broken.onnx", "not protobuf", "not an ONNX model"),
    ("bad.yaml", "onnx: nowhere.onnx\n", "ONNX file not found"),
    ("typo.yaml", "onnx: x.onnx\nprecisoin: fp16\n", "precisoin"),
])
def test_a_bad_engine_is_one_line_naming_the_file(tmp_path: Path, name: str,
                                                  content: str | None, expected: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
        (tmp_path / "x.onnx").write_bytes(CLASSIFIER.read_bytes())
    with pytest.raises(UserError) as err:
        model_specs([ENGINES / "classifier.yaml", path], max_queue_delay_us=0)
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert str(path) in message and expected in message, message


def test_a_fixed_batch_axis_caps_the_batch(tmp_path: Path) -> None:
    model = tiny_classifier()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, fixed)
    (spec,) = model_specs([fixed], max_queue_delay_us=0)
    assert spec.max_batch_size == 1
    with pytest.raises(UserError, match=r"fixed\.onnx: the model's batch axis is fixed at 1"):
        model_specs([fixed], max_queue_delay_us=0, max_batch_size=4)


def test_two_models_of_one_name_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "classifier.onnx"
    other.write_bytes(CLASSIFIER.read_bytes())
    with pytest.raises(UserError, match=r"classifier\.onnx: a second model named 'classifier'"):
        model_specs([ENGINES / "classifier.yaml", other], max_queue_delay_us=0)
    with pytest.raises(UserError, match="no ENGINE given"):
        model_specs([], max_queue_delay_us=0)


@pytest.fixture(scope="module")
def served(triton_python: Path) -> Iterator[TritonServer]:
    specs = model_specs([ENGINES / "side_detector.yaml", ENGINES / "classifier.yaml"],
                        max_queue_delay_us=1000)
    with TritonServer(specs, python=triton_python) as server:
        yield server


@pytest.mark.parametrize(("model", "onnx_path", "shape", "output"), [
    ("side_detector", DETECTOR, (2, 3, 120, 160), "detections"),
    ("classifier", CLASSIFIER, (1, 3, 64, 64), "logits"),
])
def test_a_recipes_model_serves_what_onnxruntime_computes(
        served: TritonServer, model: str, onnx_path: Path, shape: tuple[int, ...],
        output: str) -> None:
    frames = np.random.default_rng(4).random(shape, dtype=np.float32)
    (served_out,) = infer(served.url, model, {"image": frames}, [output])
    (expected,) = reference(onnx_path, {"image": frames})
    assert served_out.shape == expected.shape
    np.testing.assert_allclose(served_out, expected, rtol=1e-5, atol=1e-5)


def test_a_batch_over_the_recipes_largest_is_refused(served: TritonServer) -> None:
    from tritonclient.utils import InferenceServerException

    frames = np.zeros((3, 3, 120, 160), np.float32)
    with pytest.raises(InferenceServerException, match="batch"):
        infer(served.url, "side_detector", {"image": frames}, ["detections"])


