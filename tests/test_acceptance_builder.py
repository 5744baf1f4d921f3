"""The engine builder's acceptance checks, end to end through the CLI, on the bundled models.

- an INT8 build of the classifier calibrates, writes the Q/DQ model and a TensorRT calibration
  cache, and loses at most 0.5 pt of top-1; the detector at most 1 pt of mAP@0.5;
- a 2:4 build of the bundled (fine-tuned) classifier passes the checker on every pruned layer and
  stays within 1 pt of the dense FP32 top-1;
- a second build is a cache hit; a damaged plan is rebuilt with a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import onnx
import pytest

from edge_runtime.cli.main import main
from edge_runtime.optimize.sparsity import check_sparsity
from edge_runtime.optimize.trt_cache import read_cache
from tests.conftest import REPO

ENGINES = REPO / "engines"


def build(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / f"build{len(list(tmp_path.glob('build*.json')))}.json"
    assert main(["build", *argv, "--cache-dir", str(tmp_path / "cache"), "--json", str(out)]) == 0
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def entry(tmp_path: Path, summary: dict[str, Any]) -> Path:
    return tmp_path / "cache" / str(summary["key"])


def test_int8_classifier_and_detector_stay_within_their_limits(tmp_path: Path) -> None:
    classifier = build(tmp_path, str(ENGINES / "classifier.yaml"), "--precision", "int8")
    accuracy = classifier["accuracy"]
    assert classifier["precision"] == "int8" and accuracy["metric"] == "top1"
    assert accuracy["fp32"] > 90 and accuracy["drop"] <= 0.5 and accuracy["passed"]
    assert accuracy["frames"] == 1000
    files = entry(tmp_path, classifier)
    qdq = onnx.load(str(files / "model.qdq.onnx"))
    assert any(node.op_type == "QuantizeLinear" for node in qdq.graph.node)
    header, scales = read_cache((files / "calibration.cache").read_bytes())
    assert header.startswith("TRT-") and header.endswith("EntropyCalibration2")
    assert len(scales) > 10 and all(scale > 0 for scale in scales.values())
    detector = build(tmp_path, str(ENGINES / "detector.yaml"), "--precision", "int8")
    assert detector["accuracy"]["metric"] == "map50"
    assert detector["accuracy"]["drop"] <= 1.0 and detector["accuracy"]["fp32"] > 85


def test_sparse_classifier_is_2_4_and_within_a_point_of_dense_fp32(tmp_path: Path) -> None:
    dense = build(tmp_path, str(ENGINES / "classifier.yaml"), "--precision", "int8")
    sparse = build(tmp_path, str(ENGINES / "classifier_sparse.yaml"))
    report = sparse["sparsity"]
    assert report is not None and report["pruned"] == [] and report["layers"]
    plan = onnx.load_from_string((entry(tmp_path, sparse) / "plan.bin").read_bytes())
    checked = check_sparsity(plan)  # the built (Q/DQ) model, read through its dequantization
    sparse_layers = [layer for layer in checked.layers if layer.is_2_4]
    assert len(sparse_layers) >= 5
    assert all(layer.is_2_4 for layer in checked.layers if layer.applies)
    # same evaluation frames (seed 7101, 1000 frames): dense FP32 against sparse INT8
    assert dense["accuracy"]["fp32"] - sparse["accuracy"]["candidate"] <= 1.0


def test_second_build_hits_the_cache_and_a_damaged_plan_is_rebuilt(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = build(tmp_path, str(ENGINES / "classifier.yaml"), "--precision", "int8")
    second = build(tmp_path, str(ENGINES / "classifier.yaml"), "--precision", "int8")
    assert not first["cache_hit"] and second["cache_hit"]
    plan = entry(tmp_path, first) / "plan.bin"
    plan.write_bytes(plan.read_bytes()[:-7])
    with caplog.at_level(logging.WARNING):
        third = build(tmp_path, str(ENGINES / "classifier.yaml"), "--precision", "int8")
    assert not third["cache_hit"] and "damaged" in caplog.text
    assert third["accuracy"] == first["accuracy"]
