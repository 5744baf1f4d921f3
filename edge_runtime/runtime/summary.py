"""What an activation reports when it ends: the summary (the live view is ``runtime.status``).

The summary's JSON shape is a contract (tests and the demo read it):
``pipelines[name][mode]`` holds ``frames, hz, p50_ms, p99_ms, deadline_misses, drops,
late_drops`` (and ``accuracy`` with ``accuracy_metric`` where outputs are real) and, from the
plan in force in that mode, ``rate_hz``, ``lane``, ``variant`` and ``reason`` (why it got less
than it asked for, or null); ``modes[mode]`` holds ``watts``, ``seconds`` and lane
``utilisation``; ``plans[mode]`` each mode's last plan; ``batches[engine][mode]`` the batch-size
histogram of each batchable engine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.config.power import PowerProfile
from edge_runtime.fileio import atomic_write_text
from edge_runtime.scheduler.loop import Lateness

Table = dict[str, dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class EngineInfo:
    pipeline: str
    engine: str
    backend: str
    lane: str
    precision: str
    cache_hit: bool
    build_seconds: float
    key: str
    real_outputs: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunSummary:
    device: str
    device_name: str
    simulated_device: bool
    clock: str
    duration_s: float
    modes: dict[str, dict[str, Any]]
    pipelines: Table
    engines: dict[str, dict[str, Any]]
    loop_lateness_ms: dict[str, float]
    host_overruns: dict[str, int]
    power_switches: int
    #: Per pipeline: its state at the end, failed frames by stage and kind, bad frames,
    #: restarts.
    faults: dict[str, dict[str, Any]]
    notes: list[str]
    #: The last plan applied in each mode (``scheduler.planner.Plan.to_dict``).
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Power switches refused because critical pipelines would not fit the mode.
    refused_switches: list[str] = field(default_factory=list)
    #: Plans made again because run times drifted from the plan's (mode: the first figure).
    cost_replans: list[str] = field(default_factory=list)
    #: The power governor's decisions (at_s, step, mode, reason, applied), in order.
    governor: list[dict[str, Any]] = field(default_factory=list)
    #: Batchable engines: engine -> mode -> batch size -> inferences (scheduler rule 10).
    batches: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write_json(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def summarise(*, device: PowerProfile, clock: str, duration_s: float, table: Table,
              utilisation: dict[str, dict[str, float]], watts: dict[str, float],
              mode_seconds: dict[str, float], engines: list[EngineInfo], lateness: Lateness,
              host_overruns: dict[str, int], power_switches: int,
              faults: dict[str, dict[str, Any]],
              plans: dict[str, dict[str, Any]] | None = None,
              refused_switches: list[str] | None = None,
              cost_replans: list[str] | None = None,
              governor: list[dict[str, Any]] | None = None,
              batches: dict[str, dict[str, dict[str, int]]] | None = None) -> RunSummary:
    modes = {mode: {"seconds": round(seconds, 3), "watts": watts.get(mode),
                    "utilisation": {k: round(v, 4) for k, v in utilisation.get(mode, {}).items()}}
             for mode, seconds in mode_seconds.items()}
    notes = ["watts are the simulated module's estimate from lane utilisation "
             "(docs/simulator.md), not a measurement of this host"]
    if any(e.backend == "mock" for e in engines):
        notes.append("mock engines: latency is the simulated Jetson's, per power mode")
    if any(e.backend != "mock" for e in engines):
        notes.append("onnxruntime engines run on this host's CPU: power modes do not change "
                     "their speed")
    if any(host_overruns.values()):
        notes.append("host_overruns counts inferences whose real outputs took this host longer "
                     "than the simulated device time")
    plans = plans or {}
    for name, modes_of in table.items():
        for mode, row in modes_of.items():
            grant = plans.get(mode, {}).get("pipelines", {}).get(name)
            if grant is not None:
                row.update(rate_hz=grant["rate_hz"], lane=grant["lane"],
                           variant=grant["variant"], reason=grant["reason"])
    return RunSummary(
        device=device.module, device_name=device.name, simulated_device=True, clock=clock,
        duration_s=round(duration_s, 3), modes=modes, pipelines=table,
        engines={e.pipeline: asdict(e) for e in engines},
        loop_lateness_ms={"mean": round(lateness.mean_s * 1e3, 3),
                          "worst": round(lateness.worst_s * 1e3, 3)},
        host_overruns=host_overruns, power_switches=power_switches, faults=faults, notes=notes,
        plans=plans, refused_switches=list(refused_switches or []),
        cost_replans=list(cost_replans or []), governor=list(governor or []),
        batches=batches or {},
    )
