"""Run metrics, per pipeline and per power mode: frames, Hz, latency percentiles, deadline
misses, drops, accuracy; and per mode, lane utilisation and estimated watts.

A frame counts in the mode that was in effect when its output left the pipeline (a drop: when it
was dropped). Written from the loop and the output thread, read by the live display: one lock.
"""

from __future__ import annotations

import random
import threading
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_runtime.pipelines.postprocess import Classification, CommandResult, Detections, Result
from edge_runtime.pipelines.scoring import CommandScore, MeanAveragePrecision, TopOneScore
from edge_runtime.pipelines.sources import Truth
from edge_runtime.synthetic.commands import Command

#: Latencies kept per pipeline and mode for percentiles (reservoir sampling beyond this).
RESERVOIR = 50_000
#: Latest latencies kept per pipeline for the live status's percentiles.
RECENT = 256
#: Score bins of the live mAP (fixed memory however long a service runs).
MAP_BINS = 1000
#: Width, in tokens, of the bins of a text pipeline's length histogram.
LENGTH_BIN = 8


@dataclass
class LatencyReservoir:
    """A uniform sample of latencies, bounded in memory however long the run."""

    #: Packed doubles (8 bytes each, not a 32-byte Python float per value).
    values: array[float] = field(default_factory=lambda: array("d"))
    seen: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < RESERVOIR:
            self.values.append(value)
            return
        slot = self._rng.randrange(self.seen)
        if slot < RESERVOIR:
            self.values[slot] = value

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.values, q)) if self.values else None


@dataclass
class PipelineModeStats:
    frames: int = 0
    drops: int = 0
    #: Dropped before running because they could no longer meet their deadline.
    late_drops: int = 0
    deadline_misses: int = 0
    latency: LatencyReservoir = field(default_factory=LatencyReservoir)
    top1: TopOneScore = field(default_factory=TopOneScore)
    map50: MeanAveragePrecision = field(
        default_factory=lambda: MeanAveragePrecision(bins=MAP_BINS))
    commands: CommandScore = field(default_factory=CommandScore)
    #: Text pipelines: tokens that were the texts' own, and tokens fed in all (with padding).
    tokens_real: int = 0
    tokens_fed: int = 0
    #: Text pipelines: how many texts had each token length, in :data:`LENGTH_BINS` bins.
    lengths: dict[int, int] = field(default_factory=dict)

    def sequence_row(self) -> dict[str, Any]:
        """A text pipeline's summary keys: padding fraction, length histogram, scores."""
        row: dict[str, Any] = {}
        if self.tokens_fed:
            row["padding_fraction"] = round(1.0 - self.tokens_real / self.tokens_fed, 4)
            row["tokens"] = self.tokens_real
            row["lengths"] = {f"{low}-{low + LENGTH_BIN - 1}": count
                              for low, count in sorted(self.lengths.items())}
        if self.commands.commands:
            row["intent_accuracy"] = round(self.commands.intent_accuracy or 0.0, 4)
            row["slot_f1"] = round(self.commands.slot_f1 or 0.0, 4)
        return row

    def accuracy(self) -> tuple[str, float] | None:
        if self.commands.commands:
            return ("intent", self.commands.intent_accuracy or 0.0)
        if self.top1.total:
            value = self.top1.value
            return ("top1", value) if value is not None else None
        if self.map50.frames:
            value = self.map50.value
            return ("map50", value if value is not None else 0.0)
        return None


@dataclass
class PipelineTotals:
    """Counts over the whole activation, whatever the mode (the live status)."""

    frames: int = 0
    drops: int = 0
    late_drops: int = 0
    deadline_misses: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))


@dataclass
class ModeSpan:
    label: str
    start: float
    end: float | None = None


class RunMetrics:
    """Thread-safe accumulation of everything a run reports."""

    def __init__(self, pipelines: list[str], lanes: list[str]) -> None:
        self._lock = threading.Lock()
        self.pipelines = pipelines
        self.lanes = lanes
        self._stats: dict[tuple[str, str], PipelineModeStats] = {}
        self._busy: dict[tuple[str, str], float] = {}
        self._batches: dict[tuple[str, str, int], int] = {}
        self._spans: list[ModeSpan] = []
        self._recent: dict[str, list[float]] = {p: [] for p in pipelines}
        self._totals: dict[str, PipelineTotals] = {p: PipelineTotals() for p in pipelines}

    def add_pipeline(self, pipeline: str) -> None:
        """A pipeline that joined during the run (a reload)."""
        with self._lock:
            if pipeline not in self._totals:
                self.pipelines = [*self.pipelines, pipeline]
                self._recent[pipeline] = []
                self._totals[pipeline] = PipelineTotals()

    def add_lane(self, lane: str) -> None:
        with self._lock:
            if lane not in self.lanes:
                self.lanes = [*self.lanes, lane]

    # --- recording ---------------------------------------------------------------------------

    def mode_changed(self, label: str, now: float) -> None:
        with self._lock:
            if self._spans and self._spans[-1].end is None:
                self._spans[-1].end = now
            self._spans.append(ModeSpan(label, now))

    def current_mode(self) -> str:
        with self._lock:
            return self._spans[-1].label if self._spans else "?"

    def _entry(self, pipeline: str) -> PipelineModeStats:
        key = (pipeline, self._spans[-1].label if self._spans else "?")
        if key not in self._stats:
            self._stats[key] = PipelineModeStats()
        return self._stats[key]

    def output(self, pipeline: str, latency_s: float, missed: bool, done_at: float,
               result: Result | None, truth: Truth) -> None:
        with self._lock:
            entry = self._entry(pipeline)
            entry.frames += 1
            entry.deadline_misses += int(missed)
            entry.latency.add(latency_s)
            totals = self._totals[pipeline]
            totals.frames += 1
            totals.deadline_misses += int(missed)
            totals.latencies.append(latency_s)
            recent = self._recent[pipeline]
            recent.append(done_at)
            if len(recent) > 256:
                del recent[:128]
            if isinstance(result, Classification) and isinstance(truth, int):
                entry.top1.add(result, truth)
            elif isinstance(result, Classification) and isinstance(truth, tuple) and truth:
                entry.top1.add(result, truth[0].class_id)
            elif isinstance(result, Detections) and isinstance(truth, tuple):
                entry.map50.add(result, truth)
            elif isinstance(result, CommandResult) and isinstance(truth, Command):
                entry.commands.add(result.intent, result.tags, truth)

    def sequences(self, pipeline: str, lengths: list[int], padded_to: int) -> None:
        """One run of a text pipeline fed these texts' token ``lengths``, each padded to
        ``padded_to`` tokens."""
        with self._lock:
            entry = self._entry(pipeline)
            entry.tokens_real += sum(lengths)
            entry.tokens_fed += padded_to * len(lengths)
            for length in lengths:
                low = (max(length, 1) - 1) // LENGTH_BIN * LENGTH_BIN + 1
                entry.lengths[low] = entry.lengths.get(low, 0) + 1

    def dropped(self, pipeline: str, count: int = 1) -> None:
        with self._lock:
            self._entry(pipeline).drops += count
            self._totals[pipeline].drops += count

    def dropped_late(self, pipeline: str, count: int = 1) -> None:
        """Frames dropped before running because they could no longer meet their deadline."""
        with self._lock:
            self._entry(pipeline).late_drops += count
            self._totals[pipeline].late_drops += count

    def late_drops(self, pipeline: str) -> int:
        with self._lock:
            return self._totals[pipeline].late_drops

    def lane_busy(self, lane: str, seconds: float) -> None:
        with self._lock:
            key = (lane, self._spans[-1].label if self._spans else "?")
            self._busy[key] = self._busy.get(key, 0.0) + seconds

    def busy_s(self) -> dict[str, float]:
        """Seconds each lane has been busy since the start, every mode together (the power
        sampler differences two of these)."""
        with self._lock:
            totals = dict.fromkeys(self.lanes, 0.0)
            for (lane, _), seconds in self._busy.items():
                totals[lane] = totals.get(lane, 0.0) + seconds
            return totals

    def batch(self, engine: str, size: int) -> None:
        """An inference of a batchable engine ran ``size`` frames at once (rule 10)."""
        with self._lock:
            key = (engine, self._spans[-1].label if self._spans else "?", size)
            self._batches[key] = self._batches.get(key, 0) + 1

    # --- reading -----------------------------------------------------------------------------

    def batch_histogram(self) -> dict[str, dict[str, dict[str, int]]]:
        """engine -> mode -> batch size (as text, for JSON) -> inferences."""
        with self._lock:
            histogram: dict[str, dict[str, dict[str, int]]] = {}
            for (engine, mode, size), count in sorted(self._batches.items()):
                histogram.setdefault(engine, {}).setdefault(mode, {})[str(size)] = count
            return histogram

    def mode_seconds(self, now: float) -> dict[str, float]:
        seconds: dict[str, float] = {}
        for span in self._spans:
            end = span.end if span.end is not None else now
            seconds[span.label] = seconds.get(span.label, 0.0) + max(end - span.start, 0.0)
        return seconds

    def utilisation(self, now: float) -> dict[str, dict[str, float]]:
        """Busy share per lane, per mode."""
        with self._lock:
            seconds = self.mode_seconds(now)
            return {mode: {lane: min(self._busy.get((lane, mode), 0.0) / span, 1.0)
                           for lane in self.lanes} if span > 0 else {}
                    for mode, span in seconds.items()}

    def table(self, now: float) -> dict[str, dict[str, dict[str, Any]]]:
        """pipeline -> mode -> the summary keys (frames, hz, p50_ms, p99_ms, ...)."""
        with self._lock:
            seconds = self.mode_seconds(now)
            table: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in self.pipelines}
            for (pipeline, mode), stats in self._stats.items():
                span = seconds.get(mode, 0.0)
                row: dict[str, Any] = {
                    "frames": stats.frames,
                    "hz": round(stats.frames / span, 3) if span > 0 else 0.0,
                    "p50_ms": _ms(stats.latency.percentile(50)),
                    "p99_ms": _ms(stats.latency.percentile(99)),
                    "deadline_misses": stats.deadline_misses,
                    "drops": stats.drops,
                    "late_drops": stats.late_drops,
                }
                row.update(stats.sequence_row())
                accuracy = stats.accuracy()
                if accuracy is not None:
                    row["accuracy_metric"], row["accuracy"] = accuracy[0], round(accuracy[1], 4)
                table[pipeline][mode] = row
            return table

    def totals(self, pipeline: str) -> tuple[int, int, int, float | None, float | None]:
        """frames, drops, deadline misses, and p50 / p99 of the latest latencies (seconds)."""
        with self._lock:
            totals = self._totals[pipeline]
            latencies = list(totals.latencies)
        ordered = sorted(latencies)
        return (totals.frames, totals.drops, totals.deadline_misses,
                percentile(ordered, 50), percentile(ordered, 99))

    def recent_hz(self, pipeline: str, now: float, window_s: float = 2.0) -> float:
        with self._lock:
            stamps = [t for t in self._recent[pipeline] if t >= now - window_s]
        elapsed = min(window_s, now) if now > 0 else 0.0
        return len(stamps) / elapsed if elapsed > 0 else 0.0

    def modes(self) -> list[str]:
        with self._lock:
            seen: list[str] = []
            for span in self._spans:
                if span.label not in seen:
                    seen.append(span.label)
            return seen


def percentile(ordered: list[float], q: float) -> float | None:
    """The q-th percentile of sorted values, interpolated as numpy's default (``linear``)
    does; in pure Python because numpy's call overhead is ~0.2 ms for a few hundred values,
    and the live status asks for two percentiles per pipeline at 10 Hz."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1e3, 3) if seconds is not None else None
