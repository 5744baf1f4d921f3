"""Top-1 and mAP@0.5 against ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.pipelines.postprocess import Classification, Detections
from edge_runtime.pipelines.scoring import MeanAveragePrecision, TopOneScore, average_precision
from edge_runtime.synthetic import SceneObject


def detections(boxes: list[list[float]], scores: list[float], classes: list[int]) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                      np.array(classes, np.int64), ())


def test_top_one() -> None:
    score = TopOneScore()
    score.add(Classification((1, 0), (0.9, 0.1), ()), truth=1)
    score.add(Classification((0, 1), (0.6, 0.4), ()), truth=1)
    assert score.value == 0.5


def test_perfect_detections_score_one_and_misses_lower_it() -> None:
    truth = [SceneObject(0, (0.1, 0.1, 0.3, 0.3)), SceneObject(1, (0.5, 0.5, 0.9, 0.9))]
    perfect = MeanAveragePrecision()
    perfect.add(detections([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.9, 0.9]], [0.9, 0.8], [0, 1]),
                truth)
    assert perfect.value == 1.0
    partial = MeanAveragePrecision()
    partial.add(detections([[0.1, 0.1, 0.3, 0.3], [0.0, 0.0, 0.05, 0.05]], [0.9, 0.8], [0, 1]),
                truth)
    assert partial.value == pytest.approx(0.5)  # class 0 found (AP 1), class 1 missed (AP 0)


def test_a_duplicate_detection_is_a_false_positive() -> None:
    truth = [SceneObject(0, (0.1, 0.1, 0.3, 0.3))]
    score = MeanAveragePrecision()
    score.add(detections([[0.1, 0.1, 0.3, 0.3], [0.1, 0.1, 0.3, 0.3]], [0.9, 0.8], [0, 0]),
              truth)
    assert score.value == 1.0  # the duplicate ranks after the true positive: recall already 1
    assert average_precision([(0.9, False), (0.8, True)], 1) == pytest.approx(0.5)
