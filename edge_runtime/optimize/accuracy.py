"""The accuracy gate: is the built precision still accurate, measured against FP32?

The candidate (a Q/DQ model, a 2:4-pruned one, FP16-rounded weights) and the FP32 model run on
the same evaluation samples with onnxruntime on the CPU. Reported: the task metric of both
(top-1 for classifiers, mAP@0.5 for detectors, when the samples carry ground truth; otherwise
the agreement of the outputs, 100 x mean cosine similarity), and for every output the cosine
similarity and the largest absolute error. On the device the engine itself is evaluated the same
way (see docs/jetson-build.md); here the CPU model stands in for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from onnx import ModelProto, numpy_helper

from edge_runtime.optimize.data import Sample
from edge_runtime.pipelines.postprocess import Classification, Decoder, Detections
from edge_runtime.pipelines.scoring import MeanAveragePrecision, TopOneScore

Outputs = list[dict[str, npt.NDArray[np.float32]]]


@dataclass(frozen=True)
class OutputAgreement:
    """How closely one output of the candidate follows FP32 over the evaluation samples."""

    name: str
    mean_cosine: float
    min_cosine: float
    max_abs_error: float


@dataclass(frozen=True)
class AccuracyReport:
    """The gate's figures for one candidate (metrics in points, 0..100)."""

    precision: str
    metric: str
    reference: float
    candidate: float
    frames: int
    outputs: tuple[OutputAgreement, ...]
    limit: float | None = None
    kept_high_precision: tuple[str, ...] = ()
    note: str = ""
    sensitivity: dict[str, float] = field(default_factory=dict)

    @property
    def drop(self) -> float:
        return round(self.reference - self.candidate, 4)

    @property
    def passed(self) -> bool:
        return self.limit is None or self.drop <= self.limit + 1e-9

    def with_limit(self, limit: float | None, kept: Sequence[str] = (),
                   sensitivity: dict[str, float] | None = None) -> AccuracyReport:
        return AccuracyReport(self.precision, self.metric, self.reference, self.candidate,
                              self.frames, self.outputs, limit, tuple(kept), self.note,
                              sensitivity or {})

    def summary(self) -> str:
        label = {"top1": "top-1", "map50": "mAP@0.5", "agreement": "output agreement"}
        return (f"{label.get(self.metric, self.metric)} {self.reference:.2f} (fp32) -> "
                f"{self.candidate:.2f} ({self.precision}), drop {self.drop:.2f} pt")

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision, "metric": self.metric, "fp32": self.reference,
            "candidate": self.candidate, "drop": self.drop, "limit": self.limit,
            "passed": self.passed, "frames": self.frames, "note": self.note,
            "kept_high_precision": list(self.kept_high_precision),
            "sensitivity": self.sensitivity,
            "outputs": [{"name": o.name, "mean_cosine": o.mean_cosine,
                         "min_cosine": o.min_cosine, "max_abs_error": o.max_abs_error}
                        for o in self.outputs],
        }


def _session(model: ModelProto) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def run(model: ModelProto, samples: Sequence[Sample]) -> Outputs:
    session = _session(model)
    names = [o.name for o in session.get_outputs()]
    results = []
    for sample in samples:
        values = session.run(names, dict(sample.feed))
        results.append({n: np.asarray(v, dtype=np.float32) for n, v in zip(names, values,
                                                                          strict=True)})
    return results


def _cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    if norm == 0.0:
        return 1.0 if float(np.abs(a64 - b64).max(initial=0.0)) == 0.0 else 0.0
    return float(np.dot(a64, b64) / norm)


def agreement(reference: Outputs, candidate: Outputs) -> tuple[OutputAgreement, ...]:
    found = []
    for name in reference[0]:
        cosines = [_cosine(r[name], c[name]) for r, c in zip(reference, candidate, strict=True)]
        worst = max(float(np.abs(r[name] - c[name]).max(initial=0.0))
                    for r, c in zip(reference, candidate, strict=True))
        found.append(OutputAgreement(name, round(float(np.mean(cosines)), 6),
                                     round(float(np.min(cosines)), 6), round(worst, 6)))
    return tuple(found)


class Evaluator:
    """Scores candidates against the FP32 model on fixed samples (FP32 outputs computed once)."""

    def __init__(self, reference: ModelProto, samples: Sequence[Sample],
                 decoder: Decoder | None) -> None:
        if not samples:
            raise ValueError("no evaluation samples")
        self.samples = list(samples)
        self.decoder = decoder
        self.reference_outputs = run(reference, self.samples)
        self.metric = self._task_metric()
        self.reference_score = 100.0 if self.metric == "agreement" \
            else self._score(self.reference_outputs)

    def _task_metric(self) -> str:
        if self.decoder is None or self.samples[0].truth is None:
            return "agreement"
        kind = self.decoder(self.reference_outputs[0])
        if isinstance(kind, Classification):
            return "top1"
        if isinstance(kind, Detections) and isinstance(self.samples[0].truth, tuple):
            return "map50"
        return "agreement"

    def _score(self, outputs: Outputs) -> float:
        assert self.decoder is not None
        if self.metric == "top1":
            top1 = TopOneScore()
            for sample, out in zip(self.samples, outputs, strict=True):
                result = self.decoder(out)
                truth = sample.truth
                label = truth if isinstance(truth, int) else truth[0].class_id  # type: ignore[index]
                assert isinstance(result, Classification)
                top1.add(result, label)
            return 100.0 * (top1.value or 0.0)
        map50 = MeanAveragePrecision()
        for sample, out in zip(self.samples, outputs, strict=True):
            result = self.decoder(out)
            assert isinstance(result, Detections) and isinstance(sample.truth, tuple)
            map50.add(result, sample.truth)
        return 100.0 * (map50.value or 0.0)

    def compare(self, candidate: ModelProto, precision: str, note: str = "") -> AccuracyReport:
        outputs = run(candidate, self.samples)
        agreements = agreement(self.reference_outputs, outputs)
        if self.metric == "agreement":
            score = 100.0 * float(np.mean([a.mean_cosine for a in agreements]))
        else:
            score = self._score(outputs)
        return AccuracyReport(precision, self.metric, round(self.reference_score, 4),
                              round(score, 4), len(self.samples), agreements, note=note)

    def proxy_error(self, candidate: ModelProto, count: int = 64) -> float:
        """Mean (1 - cosine) over the first ``count`` samples: cheap, smooth, for ranking."""
        subset = self.samples[:count]
        outputs = run(candidate, subset)
        errors = [1.0 - _cosine(r[name], c[name])
                  for r, c in zip(self.reference_outputs[:count], outputs, strict=True)
                  for name in r]
        return float(np.mean(errors))


def fp16_weights(model: ModelProto) -> ModelProto:
    """``model`` with every float32 initializer rounded to float16 (and kept as float32): the
    weight rounding of an FP16 engine. Activations stay FP32 on this CPU; the report says so."""
    copy = ModelProto()
    copy.CopyFrom(model)
    for index, init in enumerate(copy.graph.initializer):
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32:
            rounded = array.astype(np.float16).astype(np.float32)
            copy.graph.initializer[index].CopyFrom(numpy_helper.from_array(rounded, init.name))
    return copy
