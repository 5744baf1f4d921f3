"""Score decoded outputs against the synthetic world's ground truth: top-1, mAP@0.5, and
intent accuracy with span-level slot F1 for commands.

The same accumulators score the bundled models in ``tools/`` (the figures in
``engines/models/README.md``) and live pipeline outputs during a run, so the two are comparable.
mAP@0.5 uses all-point interpolated average precision (PASCAL VOC 2010+), averaged over the
classes that appear in the ground truth. Slot F1 counts a predicted span as correct when its
kind and its words both match a true span (CoNLL's rule), over all commands scored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge_runtime.pipelines.postprocess import Classification, Detections, box_iou
from edge_runtime.synthetic import SceneObject
from edge_runtime.synthetic.commands import Command, slot_values

IOU_THRESHOLD = 0.5


@dataclass
class TopOneScore:
    """Share of frames whose best class is the ground-truth class."""

    correct: int = 0
    total: int = 0

    def add(self, result: Classification, truth: int) -> None:
        self.total += 1
        self.correct += int(bool(result.class_ids) and result.class_ids[0] == truth)

    @property
    def value(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class CommandScore:
    """Intent accuracy and span-level slot F1 of decoded commands."""

    commands: int = 0
    intents_correct: int = 0
    spans_found: int = 0
    spans_true: int = 0
    spans_matched: int = 0

    def add(self, intent: str, tags: Sequence[str], truth: Command) -> None:
        """One command's predicted intent and per-word tags (as many as the words it read)."""
        self.commands += 1
        self.intents_correct += int(intent == truth.intent)
        predicted = _spans(slot_values(list(truth.words[:len(tags)]), list(tags)))
        expected = _spans(truth.slots())
        self.spans_found += sum(predicted.values())
        self.spans_true += sum(expected.values())
        self.spans_matched += sum((predicted & expected).values())

    @property
    def intent_accuracy(self) -> float | None:
        return self.intents_correct / self.commands if self.commands else None

    @property
    def slot_f1(self) -> float | None:
        if not self.commands:
            return None
        found, true = self.spans_found, self.spans_true
        if not found or not true:
            return float(found == true)
        precision, recall = self.spans_matched / found, self.spans_matched / true
        return 2 * precision * recall / (precision + recall) if self.spans_matched else 0.0


def _spans(values: dict[str, list[str]]) -> Counter[tuple[str, str]]:
    return Counter((kind, value) for kind, spans in values.items() for value in spans)


@dataclass
class MeanAveragePrecision:
    """mAP at IoU 0.5, accumulated frame by frame.

    Exact by default: every detection's (score, hit) is kept, right for a finite evaluation
    set (the accuracy gate). With ``bins``, scores are counted in ``bins`` equal bins per class
    instead, so memory stays fixed however long it runs (a service's live accuracy, at 30 Hz for
    months); detections in one bin count as tied, which moves AP by well under a point at 1000
    bins.
    """

    bins: int | None = None
    _hits: dict[int, list[tuple[float, bool]]] = field(default_factory=lambda: defaultdict(list))
    _binned: dict[int, npt.NDArray[np.int64]] = field(default_factory=dict)
    _truths: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    frames: int = 0

    def add(self, result: Detections, truth: Sequence[SceneObject]) -> None:
        self.frames += 1
        truth_boxes = np.array([o.box for o in truth], dtype=np.float32).reshape(-1, 4)
        truth_classes = np.array([o.class_id for o in truth], dtype=np.int64)
        for cls in truth_classes:
            self._truths[int(cls)] += 1
        matched = np.zeros(len(truth), dtype=bool)
        for box, score, cls in zip(result.normalised_boxes, result.scores, result.class_ids,
                                   strict=True):
            candidates = np.nonzero((truth_classes == cls) & ~matched)[0]
            hit = False
            if candidates.size:
                ious = box_iou(box, truth_boxes[candidates])
                best = int(np.argmax(ious))
                if ious[best] >= IOU_THRESHOLD:
                    matched[candidates[best]] = True
                    hit = True
            self._record(int(cls), float(score), hit)

    def _record(self, cls: int, score: float, hit: bool) -> None:
        if self.bins is None:
            self._hits[cls].append((score, hit))
            return
        counts = self._binned.get(cls)
        if counts is None:
            counts = self._binned[cls] = np.zeros((self.bins + 1, 2), np.int64)
        counts[min(max(int(score * self.bins), 0), self.bins), int(hit)] += 1

    def per_class(self) -> dict[int, float]:
        return {cls: self._average_precision(cls, count)
                for cls, count in sorted(self._truths.items()) if count}

    def _average_precision(self, cls: int, positives: int) -> float:
        if self.bins is None:
            return average_precision(self._hits.get(cls, []), positives)
        counts = self._binned.get(cls)
        if counts is None or positives == 0:
            return 0.0
        descending = counts[::-1]
        used = descending.sum(axis=1) > 0
        tp = np.cumsum(descending[:, 1])[used].astype(np.float64)
        fp = np.cumsum(descending[:, 0])[used].astype(np.float64)
        return _interpolated_area(tp / positives, tp / np.maximum(tp + fp, 1e-12))

    @property
    def value(self) -> float | None:
        per_class = self.per_class()
        return float(np.mean(list(per_class.values()))) if per_class else None


def average_precision(hits: Sequence[tuple[float, bool]], positives: int) -> float:
    """All-point interpolated AP from (score, is_true_positive) pairs."""
    if positives == 0:
        return 0.0
    if not hits:
        return 0.0
    ordered = sorted(hits, key=lambda h: -h[0])
    tp = np.cumsum([1.0 if h[1] else 0.0 for h in ordered])
    fp = np.cumsum([0.0 if h[1] else 1.0 for h in ordered])
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, 1e-12)
    return _interpolated_area(recall, precision)


def _interpolated_area(recall: npt.NDArray[np.float64],
                       precision: npt.NDArray[np.float64]) -> float:
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))
