"""What a host sees of a runtime at one instant: :meth:`Runtime.status`.

Cheap enough to call at 10 Hz (a ROS diagnostics timer, a watchdog, the live table): counters
are read under the metrics lock, latency percentiles come from the last few hundred frames, not
the whole run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PipelineStatus:
    name: str
    #: running, disabled, failed, exhausted or paused (``runtime.faults.Health``).
    state: str
    lane: str
    priority: str
    #: The processing rate granted by the plan (None: free-running or driven by pushes) and
    #: the rate outputs are leaving at now (last two seconds).
    rate_hz: float | None
    hz: float
    p50_ms: float | None
    p99_ms: float | None
    frames: int
    deadline_misses: int
    drops: int
    bad_frames: int
    errors: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    last_error: str | None = None
    #: Frames dropped before running because they could no longer meet their deadline
    #: (apart from ``drops``: frames replaced by newer ones, or waiting when it stopped).
    late_drops: int = 0
    #: The engine variant the plan chose (its lane is ``lane``), the rate asked for, and why
    #: the plan gave less (None: it got what it asked for).
    variant: str | None = None
    wanted_rate_hz: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RuntimeStatus:
    #: The lifecycle state (``runtime.lifecycle.State``).
    state: str
    clock: str
    #: Seconds since activation on the runtime's clock (0 when not active).
    now: float
    power_mode: str
    #: Module power in the current mode: the simulated module's estimate from lane
    #: utilisation, unless the device measures it.
    watts: float | None
    watts_measured: bool
    device: str
    pipelines: dict[str, PipelineStatus]
    #: Busy share of each lane in the current power mode.
    lanes: dict[str, float]
    #: How long the job now on each busy lane has been running (idle lanes are absent): an
    #: inference that never returns shows here first, so a watchdog can tell a stuck lane.
    lanes_busy_s: dict[str, float] = field(default_factory=dict)
    #: Seconds since the runtime's loop last ran an event (None when not active). The loop
    #: wakes at least every quarter second, so a large value means it is stuck.
    loop_idle_s: float | None = None
    #: The plan in force (``scheduler.planner.Plan.to_dict``; None when not active).
    plan: dict[str, Any] | None = None
    #: The last telemetry sample (``power.telemetry.Telemetry`` as a dict: rails, module
    #: watts, temperatures, clocks, throttling, what could not be read); None before one.
    telemetry: dict[str, Any] | None = None
    #: The power governor's recent decisions, newest last (each: at_s, step, mode, reason,
    #: applied), and why it sheds load now (None: it does not).
    governor: list[dict[str, Any]] = field(default_factory=list)
    shedding: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
