"""Decoders: top-k, YOLO-format decode + NMS, segmentation argmax."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.config.stages import ClassificationPost, DetectionPost, SegmentationPost
from edge_runtime.pipelines.postprocess import (
    Classification,
    Detections,
    SegmentationMap,
    make_decoder,
    nms,
)


def test_classification_top_k_with_softmax_and_labels() -> None:
    decode = make_decoder(ClassificationPost(type="classification", top_k=2), ["a", "b", "c"],
                          None)
    result = decode({"logits": np.array([[0.0, 3.0, 1.0]], np.float32)})
    assert isinstance(result, Classification)
    assert result.class_ids == (1, 2) and result.labels == ("b", "c")
    assert sum(result.scores) < 1.0 and result.scores[0] == pytest.approx(0.8438, abs=1e-4)
    assert result.to_record()["labels"] == ["b", "c"]


def yolo_row(cx: float, cy: float, w: float, h: float, obj: float, cls: int,
             classes: int = 3) -> list[float]:
    scores = [0.0] * classes
    scores[cls] = 0.9
    return [cx, cy, w, h, obj, *scores]


def test_detection_decodes_thresholds_and_suppresses_overlaps_per_class() -> None:
    # input 100 x 200 (h x w); two overlapping boxes of class 0, one of class 1 on top of them,
    # one low-confidence box
    rows = np.array([[
        yolo_row(50, 50, 40, 40, 0.95, 0),
        yolo_row(52, 50, 40, 40, 0.90, 0),   # IoU ~0.9 with the first: suppressed
        yolo_row(51, 50, 40, 40, 0.80, 1),   # other class: kept
        yolo_row(150, 50, 20, 20, 0.10, 2),  # 0.1 x 0.9 < 0.3: dropped
    ]], np.float32)
    decode = make_decoder(DetectionPost(type="detection", conf_threshold=0.3), ["x", "y", "z"],
                          (100, 200))
    result = decode({"detections": rows})
    assert isinstance(result, Detections)
    assert result.class_ids.tolist() == [0, 1]
    # boxes in the pixels of the engine input when no image size is given ...
    np.testing.assert_allclose(result.boxes[0], [30, 30, 70, 70], atol=1e-4)
    np.testing.assert_allclose(result.normalised_boxes[0],
                               [30 / 200, 30 / 100, 70 / 200, 70 / 100], atol=1e-6)
    assert result.labels == ("x", "y")
    assert len(result.to_record()["boxes"]) == 2  # type: ignore[arg-type]
    # ... and in the camera image's pixels when the frame was resized to the engine input
    camera = decode({"detections": rows}, (480, 640))
    assert isinstance(camera, Detections) and camera.image_size == (480, 640)
    np.testing.assert_allclose(camera.boxes[0], [96, 144, 224, 336], atol=1e-3)
    np.testing.assert_allclose(camera.normalised_boxes, result.normalised_boxes, atol=1e-6)


def test_nms_respects_the_limit_and_keeps_best_first() -> None:
    boxes = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], np.float32)
    kept = nms(boxes, np.array([0.2, 0.9, 0.5], np.float32), np.zeros(3, np.int64), 0.5, 2)
    assert kept.tolist() == [1, 2]


def test_segmentation_argmax_and_class_share() -> None:
    scores = np.zeros((1, 3, 2, 2), np.float32)
    scores[0, 2, 0, :] = 1.0
    result = make_decoder(SegmentationPost(type="segmentation"), ["bg", "road", "car"],
                          None)({"out": scores})
    assert isinstance(result, SegmentationMap)
    assert result.mask.tolist() == [[2, 2], [0, 0]]
    assert result.to_record()["class_share"] == {"bg": 0.5, "car": 0.5}
