"""The command model's two ends: the shipped tokenizer's tensors and the word-level tags, and the
shipped model re-scored on held-out commands against its metrics file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge_runtime.errors import UserError
from edge_runtime.pipelines.scoring import CommandScore
from edge_runtime.pipelines.text import CommandTokenizer, first_tokens, word_tags
from edge_runtime.synthetic.commands import INTENTS, SLOT_TAGS, CommandGenerator
from tests.conftest import REPO

MODELS = REPO / "engines" / "models"
METRICS = json.loads((MODELS / "commands_nlu.metrics.json").read_text())


@pytest.fixture(scope="module")
def tokenizer() -> CommandTokenizer:
    return CommandTokenizer.from_file(MODELS / METRICS["tokenizer"])


def test_a_batch_is_padded_to_its_own_longest_member(tokenizer: CommandTokenizer) -> None:
    batch = tokenizer.encode(["stop", "pick up the red cube"])
    lengths = batch.attention_mask.sum(axis=1)
    assert batch.input_ids.dtype == np.int64 and batch.input_ids.shape == (2, lengths.max())
    assert lengths[0] == 3  # [CLS] stop [SEP]
    assert batch.padding_fraction == pytest.approx(1 - lengths.sum() / batch.input_ids.size)
    assert (batch.input_ids[0, lengths[0]:] == 0).all()  # [PAD] is id 0
    assert tokenizer.encode(["stop"], pad_to=16).input_ids.shape == (1, 16)
    long = tokenizer.encode([" ".join(["cube"] * 100)], max_length=64)
    assert long.input_ids.shape == (1, 64) and long.input_ids[0, -1] == long.input_ids[0, 0] + 1


def test_a_word_is_tagged_from_its_first_token() -> None:
    assert first_tokens([None, 0, 0, 1, 2, 2, None, None]) == [1, 3, 4]
    logits = np.zeros((5, len(SLOT_TAGS)))
    logits[1, SLOT_TAGS.index("B-colour")] = 1
    logits[2, SLOT_TAGS.index("B-object")] = 1
    logits[3, SLOT_TAGS.index("I-colour")] = 1  # a later sub-token's answer is not read
    assert word_tags(logits, [None, 0, 1, 1, None], SLOT_TAGS) == ["B-colour", "B-object"]


def test_a_bad_tokenizer_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "tok.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="not a tokenizers JSON file"):
        CommandTokenizer.from_file(path)


def test_the_shipped_model_has_dynamic_axes_and_is_small() -> None:
    model = onnx.load(str(MODELS / METRICS["file"]))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input}
    assert dims == {"input_ids": ["batch", "length"], "attention_mask": ["batch", "length"]}
    data = (MODELS / METRICS["file"]).read_bytes()
    assert len(data) < 10 * 2**20 and hashlib.sha256(data).hexdigest() == METRICS["sha256"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["intents"]) == list(INTENTS)
    assert json.loads(meta["slot_tags"]) == list(SLOT_TAGS)


def test_the_shipped_model_scores_as_its_metrics_say(tokenizer: CommandTokenizer) -> None:
    session = ort.InferenceSession(str(MODELS / METRICS["file"]),
                                   providers=["CPUExecutionProvider"])
    commands = CommandGenerator(METRICS["seed"]).commands(400)
    score = CommandScore()
    for start in range(0, len(commands), 50):
        chunk = commands[start:start + 50]
        batch = tokenizer.encode([c.text for c in chunk])
        intents, slots = session.run(None, {"input_ids": batch.input_ids,
                                            "attention_mask": batch.attention_mask})
        for row, command in enumerate(chunk):
            score.add(INTENTS[int(np.argmax(intents[row]))],
                      word_tags(slots[row], batch.word_ids[row], SLOT_TAGS), command)
    assert score.intent_accuracy == pytest.approx(METRICS["intent_accuracy"], abs=0.02)
    assert score.slot_f1 == pytest.approx(METRICS["slot_f1"], abs=0.02)


def test_command_score_counts_spans_as_conll_does() -> None:
    command = CommandGenerator(0, typo_rate=0.0).command(1)  # "deliver two orange tools ..."
    score = CommandScore()
    score.add(command.intent, list(command.tags), command)
    assert score.intent_accuracy == 1.0 and score.slot_f1 == 1.0
    wrong = ["O" if t.endswith("colour") else t for t in command.tags]
    score.add(INTENTS[(command.intent_id + 1) % len(INTENTS)], wrong, command)
    assert score.intent_accuracy == 0.5 and score.slot_f1 is not None and score.slot_f1 < 1.0
