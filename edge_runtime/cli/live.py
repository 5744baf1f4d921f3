"""The live table while a run goes, and the summary table after it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edge_runtime.runtime.status import RuntimeStatus
from edge_runtime.runtime.summary import RunSummary


def fmt_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def _accuracy(row: dict[str, Any]) -> str:
    if "accuracy" not in row:
        return "-"
    if row.get("accuracy_metric") == "intent":
        return f"intent {row['accuracy'] * 100:.1f}% F1 {row.get('slot_f1', 0.0) * 100:.1f}%"
    metric = "top-1" if row.get("accuracy_metric") == "top1" else "mAP@.5"
    return f"{metric} {row['accuracy'] * 100:.1f}%"


def live_table(status: RuntimeStatus, duration_s: float) -> Group:
    table = Table(title=f"edge-runtime  t={status.now:5.1f}/{duration_s:.0f}s  "
                        f"power mode {status.power_mode}", expand=False)
    for column in ("pipeline", "lane", "state", "rate", "frames", "Hz", "p50 ms", "p99 ms",
                   "misses", "drops", "errors"):
        table.add_column(column, justify="left" if column in ("pipeline", "lane", "state")
                         else "right")
    for name, pipeline in status.pipelines.items():
        table.add_row(name, pipeline.lane, pipeline.state, fmt_rate(pipeline.rate_hz),
                      fmt_value(pipeline.frames), f"{pipeline.hz:.1f}", fmt_value(pipeline.p50_ms),
                      fmt_value(pipeline.p99_ms), fmt_value(pipeline.deadline_misses),
                      fmt_value(pipeline.drops + pipeline.late_drops),
                      fmt_value(sum(pipeline.errors.values()) + pipeline.bad_frames))
    footer = Text(f"simulated module power {status.watts or 0.0:.1f} W   "
                  + "   ".join(f"{lane} {share * 100:.0f}% busy"
                               for lane, share in status.lanes.items()))
    decisions = [f"plan: {name}: {p.reason}" for name, p in status.pipelines.items()
                 if p.reason]
    return Group(table, footer, *(Text(line) for line in decisions))


def fmt_rate(hz: float | None) -> str:
    return "-" if hz is None else f"{hz:g} Hz"


class LiveDisplay:
    """Feeds runtime status to a rich Live table on a terminal; elsewhere (CI logs) prints a
    one-line progress every few seconds instead of redrawing."""

    def __init__(self, out: Console, duration_s: float, every_s: float = 5.0):
        self.out = out
        self.duration_s = duration_s
        self.every_s = every_s
        self._live: Live | None = None
        self._last_line = 0.0
        self._told: dict[str, str | None] = {}

    def __call__(self, status: RuntimeStatus) -> None:
        if self._live is not None:
            self._live.update(live_table(status, self.duration_s))
            return
        if time.monotonic() - self._last_line >= self.every_s:
            self._last_line = time.monotonic()
            rates = ", ".join(f"{p} {s.hz:.1f} Hz on {s.lane}"
                              for p, s in status.pipelines.items())
            self.out.print(f"t={status.now:5.1f}s mode {status.power_mode}: {rates}")
            for name, pipeline in status.pipelines.items():
                if pipeline.reason and self._told.get(name) != pipeline.reason:
                    self.out.print(f"  plan: {name}: {pipeline.reason}")
                self._told[name] = pipeline.reason

    @contextmanager
    def running(self) -> Iterator[LiveDisplay]:
        if not self.out.is_terminal:
            yield self
            return
        with Live(console=self.out, refresh_per_second=4, transient=False) as live:
            self._live = live
            try:
                yield self
            finally:
                self._live = None


def summary_table(summary: RunSummary) -> Group:
    table = Table(title=f"summary: {summary.device_name} (simulated), {summary.clock} clock, "
                        f"{summary.duration_s:.1f} s")
    for column in ("pipeline", "mode", "lane", "rate", "frames", "Hz", "p50 ms", "p99 ms",
                   "misses", "drops", "accuracy"):
        table.add_column(column, justify="left" if column in ("pipeline", "mode", "lane")
                         else "right")
    decisions: list[str] = []
    for pipeline, by_mode in summary.pipelines.items():
        for mode, row in by_mode.items():
            table.add_row(pipeline, mode, row.get("lane") or "-", fmt_rate(row.get("rate_hz")),
                          fmt_value(row["frames"]), fmt_value(row["hz"]), fmt_value(row["p50_ms"]),
                          fmt_value(row["p99_ms"]), fmt_value(row["deadline_misses"]),
                          fmt_value(row["drops"] + row.get("late_drops", 0)), _accuracy(row))
            if row.get("reason"):
                decisions.append(f"{mode} {pipeline}: {row['reason']}")
    modes = Table(title="power modes")
    for column in ("mode", "seconds", "watts (est.)", "lane utilisation"):
        modes.add_column(column)
    for mode, info in summary.modes.items():
        util = ", ".join(f"{k} {v * 100:.1f}%" for k, v in info["utilisation"].items())
        modes.add_row(mode, fmt_value(info["seconds"]), fmt_value(info["watts"]), util)
    priced = sorted({note for engine in summary.engines.values()
                     for note in engine.get("notes", []) if " priced as " in note})
    if priced:
        table.caption = "simulated Jetson timing: " + "; ".join(priced)
    notes = [Text("planner decisions:"), *(Text(f"  {line}") for line in decisions)] \
        if decisions else [Text("planner decisions: none (every pipeline got what it asked)")]
    notes += [Text(f"refused power switch: {line}") for line in summary.refused_switches]
    notes += [Text(f"planned again, run times drifted: {line}")
              for line in summary.cost_replans]
    notes += [Text(f"batches of {engine} in {mode}: " + ", ".join(
        f"{count} x {size}" for size, count in sizes.items()))
        for engine, by_mode in summary.batches.items() for mode, sizes in by_mode.items()]
    return Group(table, modes, *notes)
