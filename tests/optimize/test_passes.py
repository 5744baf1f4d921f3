"""INT8 of the command model through the engine builder: Q/DQ on every MatMul (attention's
included), calibrated on text_commands and gated on intent accuracy and slot F1, on the
onnxruntime (CPU) and the simulated Jetson backends; and a text recipe's mistakes as one line."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import onnx
import pytest

from edge_runtime.config.loading import load_power_profile, load_recipe
from edge_runtime.config.recipe import BackendName, Precision
from edge_runtime.config.stages import CommandsPost, TokenizeConfig
from edge_runtime.engines.cache import EngineCache
from edge_runtime.engines.registry import EngineContext, build_engine
from edge_runtime.errors import UserError
from edge_runtime.optimize.passes import QDQ_FILE
from edge_runtime.sim.jetson import SimulatedJetson
from tests.conftest import REPO

ENGINES = REPO / "engines"
MODELS = ENGINES / "models"
RECIPE = """\
    onnx: {onnx}
    precision: int8
    max_batch: 8
    inputs:
      input_ids: {{min: [1, 2], opt: [4, 16], max: [8, 64]}}
      attention_mask: {{min: [1, 2], opt: [4, 16], max: [8, 64]}}
    calibration:
      op_types: [MatMul, Gemm]
      data:
        source: {{type: text_commands, seed: 5301}}
        preprocess: {{type: tokens, tokenizer: {tokenizer}}}
      batches: 4
      batch_size: 8
    evaluation:
      data:
        source: {{type: text_commands, seed: 7301}}
        preprocess: {{type: tokens, tokenizer: {tokenizer}}}
        postprocess: {{type: {post}}}
      frames: 120
    max_accuracy_drop: 1.0
"""


def recipe_file(tmp_path: Path, onnx_path: Path = MODELS / "commands_nlu.onnx",
                post: str = "commands") -> Path:
    path = tmp_path / "nlu_int8.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(
        onnx=onnx_path, tokenizer=MODELS / "commands_tokenizer.json", post=post)))
    return path


def build(tmp_path: Path, backend: BackendName, path: Path | None = None) -> Any:
    context = EngineContext(cache=EngineCache(tmp_path / "cache"),
                            device=SimulatedJetson(load_power_profile("jetson-agx-orin-32gb")))
    return build_engine(load_recipe(path or recipe_file(tmp_path)), backend, context).artifact


@pytest.mark.parametrize("backend", [BackendName.ONNXRUNTIME, BackendName.MOCK])
def test_int8_command_model_passes_its_gate_with_intent_and_slot_figures(
        tmp_path: Path, backend: BackendName) -> None:
    artifact = build(tmp_path, backend)
    manifest = artifact.manifest
    assert manifest.precision == "int8"
    accuracy = manifest.accuracy
    assert accuracy is not None and accuracy["metric"] == "commands" and accuracy["passed"]
    assert accuracy["frames"] == 120 and accuracy["limit"] == 1.0
    figures = accuracy["figures"]
    assert set(figures) == {"intent_accuracy", "slot_f1"}
    assert all(f["fp32"] > 97.0 and f["candidate"] > 96.0 for f in figures.values())
    assert accuracy["drop"] == max(f["drop"] for f in figures.values()) <= 1.0
    model = onnx.load(str(MODELS / "commands_nlu.onnx"))
    matmuls = [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm")]
    weights = {i.name for i in model.graph.initializer}
    attention = [n.name for n in model.graph.node  # QK^T and AV: two activations, no weights
                 if n.op_type == "MatMul" and not weights & set(n.input)]
    assert len(matmuls) == 20 and len(attention) == 6
    assert all(manifest.layer_precisions.get(n) == "int8" for n in matmuls)
    assert not any(manifest.layer_precisions.get(n.name) == "int8" for n in model.graph.node
                   if n.op_type in ("LayerNormalization", "Softmax"))  # kept in float
    qdq = onnx.load_from_string(artifact.files[QDQ_FILE])
    assert sum(n.op_type == "QuantizeLinear" for n in qdq.graph.node) >= len(matmuls)


def test_the_bundled_recipes_gate_the_command_model_on_commands() -> None:
    for name, precision in (("commands_nlu.yaml", Precision.FP16),
                            ("commands_nlu_int8.yaml", Precision.INT8)):
        recipe = load_recipe(ENGINES / name)
        assert recipe.precision is precision and recipe.max_accuracy_drop == 1.0
        data = recipe.evaluation.data
        assert data is not None and not isinstance(data.source, str)
        assert data.source.type == "text_commands" and data.source.seed == 7301
        assert isinstance(data.preprocess, TokenizeConfig)
        assert Path(data.preprocess.tokenizer) == MODELS / "commands_tokenizer.json"
        assert isinstance(data.postprocess, CommandsPost)
    calibration = load_recipe(ENGINES / "commands_nlu_int8.yaml").calibration
    assert not isinstance(calibration.data.source, str)
    assert calibration.data.source.type == "text_commands"
    assert calibration.data.source.seed != 7301  # calibration never sees the gate's commands


def test_a_text_model_scored_with_an_image_postprocess_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        build(tmp_path, BackendName.ONNXRUNTIME, recipe_file(tmp_path, post="classification"))
    assert caught.value.key == "evaluation.data.postprocess"
    assert "type: commands" in str(caught.value)


def test_a_command_model_without_labels_is_one_line(tmp_path: Path) -> None:
    model = onnx.load(str(MODELS / "commands_nlu.onnx"))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(UserError) as caught:
        build(tmp_path, BackendName.ONNXRUNTIME, recipe_file(tmp_path, bare))
    assert caught.value.key == "evaluation.data.postprocess" and caught.value.file == str(bare)
    assert "intents" in str(caught.value) and "\n" not in str(caught.value)
