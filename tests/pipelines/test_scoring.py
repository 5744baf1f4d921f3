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


def _noisy_frames(count: int) -> list[tuple[Detections, list[SceneObject]]]:
    """Frames of two objects each, found with jittered boxes, random scores and some
    spurious detections: AP well away from 0 and 1."""
    rng = np.random.default_rng(3)
    frames = []
    for _ in range(count):
        truth = [SceneObject(0, (0.1, 0.1, 0.4, 0.4)), SceneObject(1, (0.5, 0.5, 0.9, 0.9))]
        boxes, scores, classes = [], [], []
        for obj in truth:
            if rng.random() < 0.8:
                boxes.append([c + rng.normal(0, 0.03) for c in obj.box])
                scores.append(float(rng.uniform(0.3, 1.0)))
                classes.append(obj.class_id)
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 0.6, 2)
            boxes.append([x, y, x + 0.2, y + 0.2])
            scores.append(float(rng.uniform(0.0, 0.7)))
            classes.append(int(rng.integers(0, 2)))
        frames.append((detections(boxes, scores, classes), truth))
    return frames


def test_binned_map_agrees_with_the_exact_one_and_its_memory_stays_fixed() -> None:
    exact, binned = MeanAveragePrecision(), MeanAveragePrecision(bins=1000)
    frames = _noisy_frames(2000)
    for result, truth in frames[:1000]:
        exact.add(result, truth)
        binned.add(result, truth)
    assert exact.value is not None and 0.3 < exact.value < 0.95
    assert binned.value == pytest.approx(exact.value, abs=0.005)
    sizes = {cls: counts.nbytes for cls, counts in binned._binned.items()}
    for result, truth in frames[1000:]:
        binned.add(result, truth)
    assert {cls: counts.nbytes for cls, counts in binned._binned.items()} == sizes
    assert binned._hits == {}  # nothing kept per detection
