"""A text (command) pipeline through the whole runtime: the bundled command model, real
onnxruntime outputs, scored live against the command world; batched by length."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.errors import UserError
from edge_runtime.synthetic.commands import CommandGenerator
from tests.conftest import REPO
from tests.runtime.conftest import MakeRuntime

MODELS = REPO / "engines" / "models"
METRICS = json.loads((MODELS / "commands_nlu.metrics.json").read_text())

RECIPE = f"""
onnx: {MODELS / "commands_nlu.onnx"}
precision: fp32
max_batch: 8
inputs:
  input_ids: {{min: [1, 2], opt: [4, 16], max: [8, 64]}}
  attention_mask: {{min: [1, 2], opt: [4, 16], max: [8, 64]}}
"""

SET = f"""
device: jetson-agx-orin-32gb
power_mode: 30W
pipelines:
  - name: commands
    source: SOURCE
    preprocess: {{type: tokens, tokenizer: {MODELS / "commands_tokenizer.json"},
                 batching: BATCHING}}
    engine: {{recipe: nlu.yaml, mock_outputs: onnxruntime}}
    postprocess: {{type: commands}}
    priority: high
    deadline_ms: 150
    queue_depth: 64
    sinks: [{{type: jsonl, path: SINK}}]
"""


def write_set(tmp_path: Path, source: str, batching: str = "by_length") -> Path:
    (tmp_path / "nlu.yaml").write_text(RECIPE)
    path = tmp_path / "set.yaml"
    path.write_text(SET.replace("SOURCE", source).replace("BATCHING", batching)
                    .replace("SINK", str(tmp_path / "commands.jsonl")))
    return path


def run_sim(make_runtime: MakeRuntime, path: Path, seconds: float) -> dict:  # type: ignore[type-arg]
    runtime = make_runtime(path)
    runtime.configure()
    runtime.activate()
    runtime.run_for(seconds)
    summary = runtime.deactivate().to_dict()
    runtime.shutdown()
    return summary


def test_commands_are_scored_live_within_two_points_of_the_models_figures(
        make_runtime: MakeRuntime, tmp_path: Path) -> None:
    path = write_set(tmp_path, "{type: text_commands, rate_hz: 50, seed: 7301}")
    row = run_sim(make_runtime, path, 8.0)["pipelines"]["commands"]["30W"]
    assert row["frames"] == 400 and row["deadline_misses"] == 0
    assert row["intent_accuracy"] >= METRICS["intent_accuracy"] - 0.02
    assert row["slot_f1"] >= METRICS["slot_f1"] - 0.02
    assert sum(row["lengths"].values()) == 400
    record = json.loads((tmp_path / "commands.jsonl").read_text().splitlines()[0])
    truth = CommandGenerator(7301).command(record["frame"])
    assert record["outputs"]["intent"] == truth.intent
    assert record["outputs"]["words"] == list(truth.words)


def test_by_length_batching_pads_less_than_pad_to_max(make_runtime: MakeRuntime,
                                                      tmp_path: Path) -> None:
    # 600 commands a second on the simulated Orin: enough that commands wait and batch
    rows = {}
    for batching in ("by_length", "pad_to_max"):
        folder = tmp_path / batching
        folder.mkdir()
        path = write_set(folder, "{type: text_commands, rate_hz: 600, seed: 11}", batching)
        rows[batching] = run_sim(make_runtime, path, 2.0)["pipelines"]["commands"]["30W"]
    assert rows["by_length"]["padding_fraction"] < 0.15
    assert rows["pad_to_max"]["padding_fraction"] > 0.5
    assert rows["by_length"]["intent_accuracy"] == pytest.approx(
        rows["pad_to_max"]["intent_accuracy"], abs=0.02)


def test_pushed_texts_come_back_decoded_in_order_of_their_stamps(make_runtime: MakeRuntime,
                                                                 tmp_path: Path) -> None:
    path = write_set(tmp_path, "{type: external}")
    runtime = make_runtime(path, clock="wall")
    runtime.configure()
    got: list[tuple[float, str]] = []
    runtime.subscribe(lambda out: got.append((out.stamp or 0.0,
                                              out.result.intent)))  # type: ignore[union-attr]
    runtime.activate()
    commands = CommandGenerator(5).commands(20)
    for k, command in enumerate(commands):
        runtime.push("commands", command.text, stamp=float(k), truth=command)
    deadline = time.monotonic() + 20
    while len(got) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    summary = runtime.deactivate().to_dict()
    runtime.shutdown()
    assert sorted(stamp for stamp, _ in got) == [float(k) for k in range(20)]  # none replaced
    by_stamp = dict(got)
    assert sum(by_stamp[float(k)] == c.intent for k, c in enumerate(commands)) >= 19
    assert summary["pipelines"]["commands"]
    with pytest.raises(TypeError):
        runtime_again = make_runtime(path, clock="wall")
        runtime_again.configure()
        runtime_again.activate()
        try:
            runtime_again.push("commands", commands[0].words)  # type: ignore[arg-type]
        finally:
            runtime_again.shutdown()


def test_a_text_source_without_a_tokenizer_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("pipelines:\n  - name: c\n    source: {type: text_commands}\n"
                    "    engine: nlu.yaml\n")
    with pytest.raises(UserError, match=re.escape("needs preprocess: {type: tokens")):
        load_pipeline_set(path)
