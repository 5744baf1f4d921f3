"""The bundled ONNX models: trained, accurate on held-out frames, and documented truthfully.

Scores a few frames through ``tools/eval_models.py`` (the runtime's own preprocess, onnxruntime
and decoders); the full figures come from running that tool, and the last two tests check that
``metrics.json`` describes the shipped files and that the README quotes it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "engines" / "models"


@pytest.fixture(scope="module")
def eval_models() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_models", REPO / "tools" / "eval_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_classifier_names_held_out_shapes(eval_models: ModuleType) -> None:
    record = eval_models.evaluate_model("shapes_classifier", frames=100, seed=7001)
    assert record["metric"] == "top1"
    assert record["value"] >= 0.95


def test_detector_finds_held_out_shapes(eval_models: ModuleType) -> None:
    record = eval_models.evaluate_model("shapes_detector", frames=60, seed=7002)
    assert record["metric"] == "mAP@0.5"
    assert record["value"] >= 0.85


def test_evaluation_refuses_training_seeds(eval_models: ModuleType) -> None:
    with pytest.raises(ValueError, match="training data"):
        eval_models.evaluate_model("shapes_classifier", frames=1, seed=1001)


def test_metrics_describe_the_shipped_files(eval_models: ModuleType) -> None:
    metrics = json.loads((MODELS / "metrics.json").read_text())
    assert set(metrics) == set(eval_models.MODELS)
    for name, record in metrics.items():
        assert record["sha256"] == eval_models.sha256(MODELS / record["file"]), name
        assert (MODELS / record["file"]).stat().st_size < 2 * 1024 * 1024


def test_readme_quotes_the_metrics() -> None:
    metrics = json.loads((MODELS / "metrics.json").read_text())
    readme = (MODELS / "README.md").read_text()
    for record in metrics.values():
        assert f"{record['value']:.4f}" in readme, record["model"]
        assert f"{record['frames']} frames" in readme.replace(",", ""), record["model"]
        assert record["sha256"][:16] in readme, record["model"]
