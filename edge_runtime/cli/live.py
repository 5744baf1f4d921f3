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

from edge_runtime.runtime.summary import EngineInfo, RunSnapshot, RunSummary


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def _accuracy(row: dict[str, Any]) -> str:
    if "accuracy" not in row:
        return "-"
    metric = "top-1" if row.get("accuracy_metric") == "top1" else "mAP@.5"
    return f"{metric} {row['accuracy'] * 100:.1f}%"


def live_table(snapshot: RunSnapshot, engines: dict[str, EngineInfo]) -> Group:
    table = Table(title=f"edge-runtime  t={snapshot.now:5.1f}/{snapshot.duration_s:.0f}s  "
                        f"power mode {snapshot.mode}", expand=False)
    for column in ("pipeline", "lane", "frames", "Hz", "p50 ms", "p99 ms", "misses", "drops",
                   "accuracy"):
        table.add_column(column, justify="left" if column in ("pipeline", "lane") else "right")
    for pipeline, by_mode in snapshot.table.items():
        row = by_mode.get(snapshot.mode, {})
        lane = engines[pipeline].lane if pipeline in engines else "?"
        table.add_row(pipeline, lane, _fmt(row.get("frames", 0)),
                      f"{snapshot.recent_hz.get(pipeline, 0.0):.1f}", _fmt(row.get("p50_ms")),
                      _fmt(row.get("p99_ms")), _fmt(row.get("deadline_misses", 0)),
                      _fmt(row.get("drops", 0)), _accuracy(row))
    util = snapshot.utilisation.get(snapshot.mode, {})
    footer = Text(f"simulated module power {snapshot.watts.get(snapshot.mode, 0.0):.1f} W   "
                  + "   ".join(f"{lane} {share * 100:.0f}% busy" for lane, share in util.items()))
    return Group(table, footer)


class LiveDisplay:
    """Feeds run snapshots to a rich Live table on a terminal; elsewhere (CI logs) prints a
    one-line progress every few seconds instead of redrawing."""

    def __init__(self, out: Console, engines: dict[str, EngineInfo], every_s: float = 5.0):
        self.out = out
        self.engines = engines
        self.every_s = every_s
        self._live: Live | None = None
        self._last_line = 0.0

    def __call__(self, snapshot: RunSnapshot) -> None:
        if self._live is not None:
            self._live.update(live_table(snapshot, self.engines))
            return
        if time.monotonic() - self._last_line >= self.every_s:
            self._last_line = time.monotonic()
            rates = ", ".join(f"{p} {hz:.1f} Hz" for p, hz in snapshot.recent_hz.items())
            self.out.print(f"t={snapshot.now:5.1f}s mode {snapshot.mode}: {rates}")

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
    for column in ("pipeline", "mode", "frames", "Hz", "p50 ms", "p99 ms", "misses", "drops",
                   "accuracy"):
        table.add_column(column, justify="left" if column in ("pipeline", "mode") else "right")
    for pipeline, by_mode in summary.pipelines.items():
        for mode, row in by_mode.items():
            table.add_row(pipeline, mode, _fmt(row["frames"]), _fmt(row["hz"]),
                          _fmt(row["p50_ms"]), _fmt(row["p99_ms"]), _fmt(row["deadline_misses"]),
                          _fmt(row["drops"]), _accuracy(row))
    modes = Table(title="power modes")
    for column in ("mode", "seconds", "watts (est.)", "lane utilisation"):
        modes.add_column(column)
    for mode, info in summary.modes.items():
        util = ", ".join(f"{k} {v * 100:.1f}%" for k, v in info["utilisation"].items())
        modes.add_row(mode, _fmt(info["seconds"]), _fmt(info["watts"]), util)
    return Group(table, modes)
