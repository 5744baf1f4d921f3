"""The accuracy gate: is the built precision still accurate, measured against FP32?

The candidate (a Q/DQ model, a 2:4-pruned one, FP16-rounded weights) and the FP32 model run on
the same evaluation samples with onnxruntime on the CPU. Reported: the task metric of both
(top-1 for classifiers, mAP@0.5 for detectors, intent accuracy and slot F1 for a command model,
when the samples carry ground truth; otherwise the agreement of the outputs, 100 x mean cosine
similarity), and for every output the cosine similarity and the largest absolute error. A
command model is gated on the worse of its two drops: keeping intents right is no excuse for
losing slots. On the device the engine itself is evaluated the same way (see
docs/jetson-build.md); here the CPU model stands in for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from onnx import ModelProto, numpy_helper

from edge_runtime.optimize.data import Sample
from edge_runtime.pipelines.postprocess import Classification, Decoder, Detections
from edge_runtime.pipelines.scoring import CommandScore, MeanAveragePrecision, TopOneScore
from edge_runtime.pipelines.text import CommandDecoder
from edge_runtime.synthetic.commands import Command

#: The FP32 model's outputs, one dict per evaluation sample (the reference candidates are
#: scored against).
ReferenceOutputs = list[dict[str, npt.NDArray[np.float32]]]


@dataclass(frozen=True)
class OutputAgreement:
    """How closely one output of the candidate follows FP32 over the evaluation samples."""

    name: str
    mean_cosine: float
    min_cosine: float
    max_abs_error: float


@dataclass(frozen=True)
class TaskFigure:
    """One figure of a metric that has several (a command model's intent accuracy and slot
    F1), in points: the model must keep each of them, so each one's drop is reported."""

    name: str
    reference: float
    candidate: float

    @property
    def drop(self) -> float:
        return round(self.reference - self.candidate, 4)


#: How a command model's figures read in a summary line.
FIGURE_LABELS = {"intent_accuracy": "intent", "slot_f1": "slot F1"}


@dataclass(frozen=True)
class AccuracyReport:
    """The gate's figures for one candidate (metrics in points, 0..100).

    A metric of several figures (``commands``: intent accuracy and slot F1) lists them in
    ``figures``; ``reference`` and ``candidate`` are then those of the figure that dropped
    most, so ``drop`` - what the gate enforces - is the worse of the drops.
    """

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
    figures: tuple[TaskFigure, ...] = ()

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
                              sensitivity or {}, self.figures)

    def summary(self) -> str:
        if self.figures:
            def both(side: str) -> str:
                return " / ".join(f"{FIGURE_LABELS.get(f.name, f.name)} {getattr(f, side):.2f}"
                                  for f in self.figures)

            names = " and ".join(FIGURE_LABELS.get(f.name, f.name) for f in self.figures)
            return (f"{both('reference')} (fp32) -> {both('candidate')} ({self.precision}), "
                    f"drop {self.drop:.2f} pt (the worse of {names})")
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
            "figures": {f.name: {"fp32": f.reference, "candidate": f.candidate, "drop": f.drop}
                        for f in self.figures},
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


def _outputs(session: Any, sample: Sample) -> dict[str, npt.NDArray[np.float32]]:
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, dict(sample.feed))
    return {n: np.asarray(v, dtype=np.float32) for n, v in zip(names, values, strict=True)}


def _cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    if norm == 0.0:
        return 1.0 if float(np.abs(a64 - b64).max(initial=0.0)) == 0.0 else 0.0
    return float(np.dot(a64, b64) / norm)


@dataclass
class _Agreement:
    """Running cosine and error figures of one output, sample by sample."""

    cosines: list[float] = field(default_factory=list)
    worst: float = 0.0

    def add(self, reference: npt.NDArray[np.float32], candidate: npt.NDArray[np.float32]) -> None:
        self.cosines.append(_cosine(reference, candidate))
        self.worst = max(self.worst, float(np.abs(reference - candidate).max(initial=0.0)))

    def result(self, name: str) -> OutputAgreement:
        return OutputAgreement(name, round(float(np.mean(self.cosines)), 6),
                               round(float(np.min(self.cosines)), 6), round(self.worst, 6))


#: FP32 outputs are kept for all candidates while they fit in this much memory; beyond it the
#: reference model runs again beside each candidate (a big model's outputs at 300 frames would
#: otherwise take gigabytes).
REFERENCE_BUDGET_BYTES = 256 << 20


class Evaluator:
    """Scores candidates against the FP32 model on fixed samples."""

    def __init__(self, reference: ModelProto, samples: Sequence[Sample],
                 decoder: Decoder | CommandDecoder | None) -> None:
        if not samples:
            raise ValueError("no evaluation samples")
        self.samples = list(samples)
        self.decoder = decoder
        #: A text model's intent accuracy and slot F1 (points) of the last model scored
        #: (after construction: FP32's, also kept in :attr:`reference_figures`).
        self.command_figures: dict[str, float] = {}
        self.reference_figures: dict[str, float] = {}
        self._reference = _session(reference)
        first = _outputs(self._reference, self.samples[0])
        size = sum(v.nbytes for v in first.values()) * len(self.samples)
        self._cached: ReferenceOutputs | None = None
        if size <= REFERENCE_BUDGET_BYTES:
            self._cached = [first] + [_outputs(self._reference, s) for s in self.samples[1:]]
        self.metric = self._task_metric(first)
        self.reference_score = 100.0
        if self.metric != "agreement":
            self.reference_score = self._score(self._reference_outputs(self.samples))
            self.reference_figures = dict(self.command_figures)

    def _reference_outputs(self, samples: Sequence[Sample]) -> Iterator[dict[str, Any]]:
        if self._cached is not None:
            yield from self._cached[:len(samples)]
        else:
            for sample in samples:
                yield _outputs(self._reference, sample)

    def _task_metric(self, first: dict[str, npt.NDArray[np.float32]]) -> str:
        if self.decoder is None or self.samples[0].truth is None:
            return "agreement"
        if isinstance(self.decoder, CommandDecoder):
            return "commands" if isinstance(self.samples[0].truth, Command) else "agreement"
        kind = self.decoder(first)
        if isinstance(kind, Classification):
            return "top1"
        if isinstance(kind, Detections) and isinstance(self.samples[0].truth, tuple):
            return "map50"
        return "agreement"

    def _score(self, outputs: Iterable[dict[str, Any]]) -> float:
        assert self.decoder is not None
        if isinstance(self.decoder, CommandDecoder):
            return self._command_score(self.decoder, outputs)
        top1, map50 = TopOneScore(), MeanAveragePrecision()
        for sample, out in zip(self.samples, outputs, strict=False):
            result = self.decoder(out)
            truth = sample.truth
            if isinstance(result, Classification):
                label = truth if isinstance(truth, int) else truth[0].class_id  # type: ignore[index]
                top1.add(result, label)
            elif isinstance(result, Detections) and isinstance(truth, tuple):
                map50.add(result, truth)
        score = top1.value if self.metric == "top1" else map50.value
        return 100.0 * (score or 0.0)

    def _command_score(self, decoder: CommandDecoder, outputs: Iterable[dict[str, Any]]
                       ) -> float:
        """The lower of intent accuracy and slot F1, in points (a text model must keep both;
        the figures themselves are kept in :attr:`command_figures`, and the gate enforces
        the worse of their drops: :meth:`compare`)."""
        score = CommandScore()
        for sample, out in zip(self.samples, outputs, strict=False):
            if sample.text is not None and isinstance(sample.truth, Command):
                result = decoder(out, sample.text)
                score.add(result.intent, result.tags, sample.truth)
        intent, f1 = 100.0 * (score.intent_accuracy or 0.0), 100.0 * (score.slot_f1 or 0.0)
        self.command_figures = {"intent_accuracy": round(intent, 4), "slot_f1": round(f1, 4)}
        return min(intent, f1)

    def _pairs(self, candidate: ModelProto, samples: Sequence[Sample]
               ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        session = _session(candidate)
        for sample, reference in zip(samples, self._reference_outputs(samples), strict=True):
            yield reference, _outputs(session, sample)

    def compare(self, candidate: ModelProto, precision: str, note: str = "") -> AccuracyReport:
        running: dict[str, _Agreement] = {}
        decoded: list[dict[str, Any]] = []
        for reference, outputs in self._pairs(candidate, self.samples):
            for name, value in reference.items():
                running.setdefault(name, _Agreement()).add(value, outputs[name])
            if self.metric != "agreement":
                decoded.append(outputs)  # task models' outputs are small (logits, boxes)
        agreements = tuple(acc.result(name) for name, acc in running.items())
        if self.metric == "agreement":
            score = 100.0 * float(np.mean([a.mean_cosine for a in agreements]))
        else:
            score = self._score(decoded)
        fp32 = self.reference_score
        figures: tuple[TaskFigure, ...] = ()
        if self.metric == "commands":
            figures = tuple(TaskFigure(name, value, self.command_figures[name])
                            for name, value in self.reference_figures.items())
            # the gate holds the candidate to the figure it lost most on (on a tie, the
            # lower one: the figure the limit binds first)
            worst = max(figures, key=lambda f: (f.drop, -f.reference))
            fp32, score = worst.reference, worst.candidate
        return AccuracyReport(precision, self.metric, round(fp32, 4), round(score, 4),
                              len(self.samples), agreements, note=note, figures=figures)

    def proxy_error(self, candidate: ModelProto, count: int = 64) -> float:
        """Mean (1 - cosine) over the first ``count`` samples: cheap, smooth, for ranking."""
        errors = [1.0 - _cosine(reference[name], outputs[name])
                  for reference, outputs in self._pairs(candidate, self.samples[:count])
                  for name in reference]
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
