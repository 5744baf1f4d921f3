"""Engine outputs to results: classification top-k, detection decode + NMS, segmentation argmax.

Each decoder is built once per pipeline from its config and the engine's output specs and turns
one batch-of-one output dict into a typed result that knows its JSON record form. Detection
boxes come out in the pixels of the image the frame was (the camera's, before preprocessing
resized it), which is what a robot draws on or projects; scoring uses their normalised form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge_runtime.config.stages import (
    ClassificationPost,
    CommandsPost,
    DetectionPost,
    PostprocessConfig,
    SegmentationPost,
)
from edge_runtime.graph.tensors import Outputs, TensorSpec


@dataclass(frozen=True)
class Classification:
    """Top-k classes, best first."""

    class_ids: tuple[int, ...]
    scores: tuple[float, ...]
    labels: tuple[str, ...]

    def to_record(self) -> dict[str, object]:
        return {"labels": list(self.labels), "class_ids": list(self.class_ids),
                "scores": [round(s, 5) for s in self.scores]}


@dataclass(frozen=True)
class Detections:
    """Boxes (x1, y1, x2, y2) in pixels of an image of ``image_size`` (height, width), with
    scores and classes, best first."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]
    labels: tuple[str, ...]
    image_size: tuple[int, int] = (1, 1)

    @property
    def normalised_boxes(self) -> npt.NDArray[np.float32]:
        """Boxes as fractions of the image (the synthetic world's ground-truth form)."""
        height, width = self.image_size
        scale = np.array([width, height, width, height], dtype=np.float32)
        return np.asarray(self.boxes / scale, dtype=np.float32)

    def to_record(self) -> dict[str, object]:
        return {
            "labels": list(self.labels),
            "class_ids": self.class_ids.tolist(),
            "scores": [round(float(s), 5) for s in self.scores],
            "boxes": [[round(float(v), 2) for v in box] for box in self.boxes],
            "image_size": list(self.image_size),
        }


@dataclass(frozen=True)
class SegmentationMap:
    """Per-pixel class ids and the share of pixels per class."""

    mask: npt.NDArray[np.int64]
    labels: tuple[str, ...]

    def to_record(self) -> dict[str, object]:
        counts = np.bincount(self.mask.ravel(), minlength=len(self.labels) or 1)
        share = counts / max(int(self.mask.size), 1)
        names = self.labels or tuple(str(i) for i in range(len(counts)))
        return {"shape": list(self.mask.shape),
                "class_share": {names[i]: round(float(s), 5) for i, s in enumerate(share)
                                if s > 0 and i < len(names)}}


@dataclass(frozen=True)
class CommandResult:
    """What an operator's command means: its intent (with its softmax score) and one BIO tag
    per word, with the slot values those tags spell (``{"colour": ["red"], ...}``)."""

    intent: str
    intent_score: float
    words: tuple[str, ...]
    tags: tuple[str, ...]
    slots: dict[str, list[str]]

    def to_record(self) -> dict[str, object]:
        return {"intent": self.intent, "intent_score": round(self.intent_score, 5),
                "slots": self.slots, "words": list(self.words), "tags": list(self.tags)}


Result = Classification | Detections | SegmentationMap | CommandResult


class Decoder(Protocol):
    """Engine outputs of one frame to its result. ``image_hw`` is the frame's size before
    preprocessing (detection boxes are given in its pixels); None means the engine input's."""

    def __call__(self, outputs: Outputs, image_hw: tuple[int, int] | None = None) -> Result: ...


def _label(labels: Sequence[str], index: int) -> str:
    return labels[index] if 0 <= index < len(labels) else str(index)


def _pick(outputs: Outputs, name: str | None) -> npt.NDArray[np.float32]:
    tensor = outputs[name] if name is not None else next(iter(outputs.values()))
    return np.asarray(tensor, dtype=np.float32)


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float32)


def classify(config: ClassificationPost, labels: Sequence[str]) -> Decoder:
    def decode(outputs: Outputs, image_hw: tuple[int, int] | None = None) -> Classification:
        del image_hw
        raw = _pick(outputs, config.output).reshape(-1)
        scores = softmax(raw) if config.softmax else raw
        k = min(config.top_k, scores.size)
        top = np.argsort(-scores, kind="stable")[:k]
        return Classification(
            tuple(int(i) for i in top),
            tuple(float(scores[i]) for i in top),
            tuple(_label(labels, int(i)) for i in top),
        )

    return decode


def box_iou(box: npt.NDArray[np.float32], others: npt.NDArray[np.float32]) -> npt.NDArray[
        np.float32]:
    """IoU of one (x1, y1, x2, y2) box against N boxes."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-12), dtype=np.float32)


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
        classes: npt.NDArray[np.int64], iou_threshold: float, limit: int) -> npt.NDArray[np.intp]:
    """Greedy per-class non-maximum suppression; returns kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(order), dtype=bool)
    for rank, index in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(int(index))
        if len(keep) == limit:
            break
        rest = order[rank + 1:]
        same = classes[rest] == classes[index]
        overlap = box_iou(boxes[index], boxes[rest]) > iou_threshold
        suppressed[rank + 1:] |= same & overlap
    return np.asarray(keep, dtype=np.intp)


def detect(config: DetectionPost, labels: Sequence[str], input_hw: tuple[int, int]) -> Decoder:
    height, width = input_hw
    scale = np.array([width, height, width, height], dtype=np.float32)

    def decode(outputs: Outputs, image_hw: tuple[int, int] | None = None) -> Detections:
        raw = _pick(outputs, config.output)
        rows = raw.reshape(-1, raw.shape[-1])
        class_scores = rows[:, 5:] * rows[:, 4:5]
        class_ids = class_scores.argmax(axis=1).astype(np.int64)
        scores = class_scores[np.arange(len(rows)), class_ids]
        chosen = scores >= config.conf_threshold
        rows, scores, class_ids = rows[chosen], scores[chosen], class_ids[chosen]
        half = rows[:, 2:4] / 2
        corners = np.concatenate([rows[:, 0:2] - half, rows[:, 0:2] + half], axis=1) / scale
        boxes = np.asarray(np.clip(corners, 0.0, 1.0), dtype=np.float32)
        kept = nms(boxes, scores, class_ids, config.iou_threshold, config.max_detections)
        size = image_hw or input_hw
        pixels = np.array([size[1], size[0], size[1], size[0]], dtype=np.float32)
        return Detections(
            np.asarray(boxes[kept] * pixels, dtype=np.float32),
            np.asarray(scores[kept], dtype=np.float32), class_ids[kept],
            tuple(_label(labels, int(c)) for c in class_ids[kept]), (int(size[0]), int(size[1])),
        )

    return decode


def segment(config: SegmentationPost, labels: Sequence[str]) -> Decoder:
    def decode(outputs: Outputs, image_hw: tuple[int, int] | None = None) -> SegmentationMap:
        del image_hw
        scores = _pick(outputs, config.output)
        mask = scores.reshape(scores.shape[-3:]).argmax(axis=0).astype(np.int64)
        return SegmentationMap(mask, tuple(labels))

    return decode


def postprocess_misfit(config: PostprocessConfig,
                       outputs: Sequence[TensorSpec]) -> tuple[tuple[str, ...], str] | None:
    """Why ``config`` cannot decode the engine's ``outputs`` (None: it can), as the key under
    the postprocess mapping and the message. Checked before a build: otherwise a decoder that
    does not fit fails on the first output, as a KeyError or numpy's argmax of nothing."""
    names = [spec.name for spec in outputs]
    if isinstance(config, CommandsPost):
        return _commands_misfit(config, outputs)
    spec = next((s for s in outputs if s.name == config.output), None) if config.output \
        else (outputs[0] if outputs else None)
    if spec is None:
        return ("output",), f"the engine has no output '{config.output}' (its outputs: {names})"
    if isinstance(config, DetectionPost):
        last = spec.shape[-1] if spec.shape else None
        if len(spec.shape) < 2 or (isinstance(last, int) and last < 6):
            return ("type",), (f"detection decodes [batch, boxes, 5 + classes], and output "
                               f"{spec.describe()} is not that (is it a classifier?)")
    if isinstance(config, SegmentationPost) and len(spec.shape) < 3:
        return ("type",), (f"segmentation decodes [batch, classes, H, W], and output "
                           f"{spec.describe()} is not that")
    return None


def _commands_misfit(config: CommandsPost,
                     outputs: Sequence[TensorSpec]) -> tuple[tuple[str, ...], str] | None:
    by_name = {spec.name: spec for spec in outputs}
    for key, name, rank in (("intent_output", config.intent_output, 2),
                            ("slot_output", config.slot_output, 3)):
        spec = by_name.get(name)
        if spec is None:
            return (key,), f"the engine has no output '{name}' (its outputs: {list(by_name)})"
        if len(spec.shape) != rank:
            return (key,), (f"output {spec.describe()} should have {rank} dimensions for "
                             "commands ([batch, intents] and [batch, length, tags])")
    return None


def make_decoder(
    config: PostprocessConfig, model_labels: Sequence[str], input_hw: tuple[int, int] | None
) -> Decoder:
    """The decoder a pipeline's postprocess config asks for."""
    if isinstance(config, CommandsPost):
        raise ValueError("commands decode reads the text too: pipelines.text.CommandDecoder")
    labels = config.labels if config.labels is not None else list(model_labels)
    if isinstance(config, ClassificationPost):
        return classify(config, labels)
    if isinstance(config, DetectionPost):
        if input_hw is None:
            raise ValueError("detection decode needs the engine input's height and width")
        return detect(config, labels, input_hw)
    return segment(config, labels)
