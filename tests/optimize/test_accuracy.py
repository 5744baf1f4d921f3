"""The ``commands`` task metric of the accuracy gate: intent accuracy and slot F1 of the FP32
reference and of a candidate, gated on the worse of the two drops."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import ModelProto, numpy_helper

from edge_runtime.config.stages import CommandsPost
from edge_runtime.graph.analysis import graph_inputs
from edge_runtime.graph.metadata import model_labels
from edge_runtime.optimize.accuracy import AccuracyReport, Evaluator
from edge_runtime.optimize.data import load_samples
from edge_runtime.pipelines.text import CommandDecoder, TokenInput
from tests.conftest import REPO
from tests.optimize.test_data import commands, tokens

MODEL = REPO / "engines" / "models" / "commands_nlu.onnx"
FRAMES = 150


@pytest.fixture(scope="module")
def fp32() -> ModelProto:
    return onnx.load(str(MODEL))


@pytest.fixture(scope="module")
def evaluator(fp32: ModelProto) -> Evaluator:
    samples = load_samples(commands(7301), graph_inputs(fp32), FRAMES)
    decoder = CommandDecoder(CommandsPost(type="commands"), TokenInput(tokens()),
                             model_labels(fp32, "intents"), model_labels(fp32, "slot_tags"))
    return Evaluator(fp32, samples, decoder)


def zeroed(model: ModelProto, node_name: str) -> ModelProto:
    """``model`` with the weights (and bias) of one head set to zero: a broken candidate."""
    copy = ModelProto()
    copy.CopyFrom(model)
    node = next(n for n in copy.graph.node if n.name == node_name)
    for init in copy.graph.initializer:
        if init.name in node.input:
            init.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(init)),
                                                  init.name))
    return copy


def test_the_fp32_model_scores_as_its_metrics_file_says(evaluator: Evaluator) -> None:
    assert evaluator.metric == "commands"
    figures = evaluator.reference_figures
    assert set(figures) == {"intent_accuracy", "slot_f1"}
    assert figures["intent_accuracy"] >= 98.0 and figures["slot_f1"] >= 98.0


def test_the_model_against_itself_drops_nothing(evaluator: Evaluator, fp32: ModelProto) -> None:
    report = evaluator.compare(fp32, "fp32").with_limit(1.0)
    assert report.passed and report.drop == 0.0 and report.frames == FRAMES
    assert {f.name: f.candidate for f in report.figures} == evaluator.reference_figures
    summary = report.summary()
    assert summary.startswith("intent ") and "/ slot F1 " in summary and "(fp32) ->" in summary
    assert "worse of intent and slot F1" in summary


def test_a_broken_slot_head_fails_the_gate_on_slot_f1(evaluator: Evaluator,
                                                     fp32: ModelProto) -> None:
    report = evaluator.compare(zeroed(fp32, "/slots/MatMul"), "int8").with_limit(1.0)
    figures = {f.name: f for f in report.figures}
    assert figures["intent_accuracy"].drop == 0.0  # the intent head is untouched
    assert figures["slot_f1"].candidate < 20.0  # every word tagged alike: no spans found
    assert report.drop == figures["slot_f1"].drop > 70.0 and not report.passed
    assert (report.reference, report.candidate) == (figures["slot_f1"].reference,
                                                   figures["slot_f1"].candidate)
    as_dict = report.to_dict()
    assert as_dict["metric"] == "commands" and not as_dict["passed"]
    assert as_dict["figures"]["slot_f1"]["drop"] == report.drop


def test_a_broken_intent_head_fails_the_gate_on_intent_accuracy(evaluator: Evaluator,
                                                               fp32: ModelProto) -> None:
    report = evaluator.compare(zeroed(fp32, "/intent/Gemm"), "int8").with_limit(1.0)
    figures = {f.name: f for f in report.figures}
    assert figures["slot_f1"].drop == 0.0
    assert report.drop == figures["intent_accuracy"].drop > 50.0 and not report.passed


def one_intent_flipped(model: ModelProto, evaluator: Evaluator) -> ModelProto:
    """``model`` with one intent's bias raised just enough to take exactly one command (the
    one nearest to it) from its right intent."""
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(["intent_logits"], dict(s.feed))[0]
                             for s in evaluator.samples])
    best = logits.argmax(axis=1)
    margins = {k: np.sort(logits[best != k].max(axis=1) - logits[best != k, k])
               for k in range(logits.shape[1])}
    target = max(margins, key=lambda k: margins[k][1] - margins[k][0])
    bump = (margins[target][0] + margins[target][1]) / 2
    copy = ModelProto()
    copy.CopyFrom(model)
    gemm = next(n for n in copy.graph.node if n.name == "/intent/Gemm")
    bias = next(i for i in copy.graph.initializer if i.name == gemm.input[2])
    values = numpy_helper.to_array(bias).copy()
    values[target] += bump
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    return copy


def test_the_gate_takes_the_worse_drop_not_the_drop_of_the_lower_figure(
        evaluator: Evaluator, fp32: ModelProto) -> None:
    """One command's intent lost: intent accuracy drops yet stays above slot F1, so the lower
    of the two figures does not move at all; the gate must still see the intent drop."""
    reference = evaluator.reference_figures
    report = evaluator.compare(one_intent_flipped(fp32, evaluator), "int8").with_limit(0.5)
    figures = {f.name: f for f in report.figures}
    assert figures["intent_accuracy"].drop == pytest.approx(100.0 / FRAMES, abs=1e-3)
    assert figures["slot_f1"].drop == 0.0
    assert figures["intent_accuracy"].candidate > reference["slot_f1"]  # the lower is still F1
    assert report.drop == figures["intent_accuracy"].drop and not report.passed


def test_other_metrics_keep_their_summary() -> None:
    report = AccuracyReport("int8", "top1", 95.0, 94.5, 100, ())
    assert report.summary() == "top-1 95.00 (fp32) -> 94.50 (int8), drop 0.50 pt"
    assert report.to_dict()["figures"] == {}
