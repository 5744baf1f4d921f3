"""Calibration and evaluation samples of a text model: token feeds from the command world with
their truth, evaluation on other commands than calibration, batches padded to their own longest
member, and bad text data as one line."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import ModelProto, TensorProto, helper

from edge_runtime.config.recipe import CalibrationMethod, DataConfig
from edge_runtime.config.stages import (
    CommandsPost,
    PreprocessConfig,
    SyntheticCameraSource,
    TextCommandsSource,
    TokenizeConfig,
)
from edge_runtime.errors import UserError
from edge_runtime.graph.tensors import TensorSpec
from edge_runtime.optimize.calibration import calibrate
from edge_runtime.optimize.data import (
    ResolvedData,
    Sample,
    batched,
    disjoint,
    fingerprint,
    load_samples,
    resolve,
)
from edge_runtime.synthetic.commands import Command, CommandGenerator
from tests.conftest import REPO

TOKENIZER = REPO / "engines" / "models" / "commands_tokenizer.json"
TOKEN_SPECS = [TensorSpec(name="input_ids", shape=["batch", "length"], dtype="int64"),
               TensorSpec(name="attention_mask", shape=["batch", "length"], dtype="int64")]


def tokens() -> TokenizeConfig:
    return TokenizeConfig(type="tokens", tokenizer=TOKENIZER)


def commands(seed: int = 5301) -> ResolvedData:
    return ResolvedData(TextCommandsSource(type="text_commands", seed=seed), tokens(),
                        CommandsPost(type="commands"))


def test_text_samples_are_batch_of_one_token_feeds_with_their_command() -> None:
    samples = load_samples(commands(), TOKEN_SPECS, 12)
    world = CommandGenerator(5301).commands(12)
    assert len(samples) == 12
    for sample, command in zip(samples, world, strict=True):
        ids, mask = sample.feed["input_ids"], sample.feed["attention_mask"]
        assert ids.dtype == mask.dtype == np.int64 and ids.shape == mask.shape
        assert ids.shape[0] == 1 and mask.all()  # alone: no padding
        assert isinstance(sample.truth, Command) and sample.truth == command
        assert sample.text == command.text


def test_evaluation_without_its_own_data_gets_other_commands() -> None:
    config = DataConfig.model_validate({"source": {"type": "text_commands", "seed": 5301},
                                        "preprocess": {"type": "tokens",
                                                       "tokenizer": str(TOKENIZER)}})
    calibration = resolve(config, None, "calibration.data")
    assert isinstance(calibration.preprocess, TokenizeConfig)
    evaluation = disjoint(calibration)
    assert isinstance(evaluation.source, TextCommandsSource)
    assert evaluation.source.seed != 5301
    seen = {s.text for s in load_samples(calibration, TOKEN_SPECS, 50)}
    other = [s.text for s in load_samples(evaluation, TOKEN_SPECS, 50)]
    assert sum(text in seen for text in other) < 25  # short commands recur; most do not


def test_calibration_batches_are_padded_to_their_own_longest_with_id_and_mask_zero() -> None:
    samples = load_samples(commands(), TOKEN_SPECS, 20)
    feeds = batched(samples, 8, TOKEN_SPECS)
    assert [f["input_ids"].shape[0] for f in feeds] == [8, 8, 4]
    for index, feed in enumerate(feeds):
        group = samples[index * 8:index * 8 + 8]
        lengths = [s.feed["input_ids"].shape[1] for s in group]
        ids, mask = feed["input_ids"], feed["attention_mask"]
        assert ids.shape == mask.shape == (len(group), max(lengths))
        for row, (sample, length) in enumerate(zip(group, lengths, strict=True)):
            assert (ids[row, :length] == sample.feed["input_ids"][0]).all()
            assert (ids[row, length:] == 0).all() and (mask[row, length:] == 0).all()
            assert mask[row, :length].all()
    assert len({f["input_ids"].shape[1] for f in feeds}) > 1  # each batch its own length


def token_model() -> ModelProto:
    """input_ids, attention_mask [batch, length] -> float embedding (ids as floats, masked)."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT, name="ids"),
         helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT,
                          name="mask"),
         helper.make_node("Mul", ["ids", "mask"], ["masked"], name="masked"),
         helper.make_node("Relu", ["masked"], ["out"], name="relu")],
        "tokens", [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "length"])
                   for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "length"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("method", list(CalibrationMethod))
def test_batches_of_different_lengths_calibrate_with_every_method(
        method: CalibrationMethod) -> None:
    samples = load_samples(commands(), TOKEN_SPECS, 24)
    feeds = batched(samples, 8, TOKEN_SPECS)
    ranges = calibrate(token_model(), feeds, method, 99.99, fingerprint(samples),
                       len(samples))
    largest = max(int(s.feed["input_ids"].max()) for s in samples)
    assert 0 < ranges.ranges["masked"].amax <= largest * 1.01


def test_a_text_source_needs_a_tokens_preprocess() -> None:
    data = ResolvedData(TextCommandsSource(type="text_commands"), PreprocessConfig(), None)
    with pytest.raises(UserError) as caught:
        load_samples(data, TOKEN_SPECS, 4, "calibration.data")
    assert caught.value.key == "calibration.data.preprocess"
    assert "type: tokens" in str(caught.value)


def test_a_tokens_preprocess_needs_a_text_source() -> None:
    data = ResolvedData(SyntheticCameraSource(type="synthetic_camera"), tokens(), None)
    with pytest.raises(UserError) as caught:
        load_samples(data, TOKEN_SPECS, 4)
    assert caught.value.key == "data.source" and "text_commands" in str(caught.value)


def test_token_data_for_a_model_that_is_not_a_token_model_is_one_line() -> None:
    image = [TensorSpec(name="image", shape=["N", 3, 64, 64], dtype="float32")]
    with pytest.raises(UserError, match="input_ids") as caught:
        load_samples(commands(), image, 4)
    assert caught.value.key == "data.preprocess"
    extra = [*TOKEN_SPECS, TensorSpec(name="token_type_ids", shape=["batch", "length"],
                                      dtype="int64")]
    with pytest.raises(UserError, match="token_type_ids"):
        load_samples(commands(), extra, 4)


def test_a_missing_tokenizer_is_one_line_naming_it() -> None:
    missing = TokenizeConfig(type="tokens", tokenizer=REPO / "no-such-tokenizer.json")
    data = ResolvedData(TextCommandsSource(type="text_commands"), missing, None)
    with pytest.raises(UserError) as caught:
        load_samples(data, TOKEN_SPECS, 4, "evaluation.data")
    assert caught.value.key == "evaluation.data.preprocess.tokenizer"
    assert "no-such-tokenizer.json" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_image_batches_are_unchanged_by_padding() -> None:
    rng = np.random.default_rng(0)
    samples = [Sample({"x": rng.normal(size=(1, 4)).astype(np.float32)}) for _ in range(6)]
    feeds = batched(samples, 4, [TensorSpec(name="x", shape=["N", 4], dtype="float32")])
    assert [f["x"].shape for f in feeds] == [(4, 4), (2, 4)]
    assert np.array_equal(np.concatenate([f["x"] for f in feeds]),
                          np.concatenate([s.feed["x"] for s in samples]))
