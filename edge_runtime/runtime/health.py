"""Health reports: is each pipeline keeping its contract since the last report?

A host asks for one report per window (the ROS 2 node's ``/diagnostics`` at 1 Hz, a service's
watchdog): :class:`HealthMonitor` compares two :class:`RuntimeStatus` snapshots and says OK, WARN
or ERROR per pipeline, with the reasons and the figures. The rules live here, not in the shells,
so the ROS 2 node only translates a report into ``diagnostic_msgs``; the thresholds come from the
pipeline set's ``diagnostics`` section.

Rules, for a running pipeline in the window since the previous report:

- ERROR: the pipeline failed (its fault policy gave up, until it restarts), or its output rate is
  below ``error_rate_fraction`` of the rate it should run at;
- WARN: output rate below ``warn_rate_fraction``; a deadline miss of a ``critical`` pipeline;
  stage errors; bad frames; frames rejected by the host (a ROS image in an encoding the runtime
  does not take); drops, if ``warn_on_drops``; the source ran dry;
- WARN for a pipeline the planner paused, with the planner's reason;
- OK otherwise, and for disabled pipelines and a runtime that is not active.

The rate is judged only once a full rate window has passed since activation (the status's rate
covers the last two seconds), and only for pipelines with a rate (pushed frames arrive at the
host's rate, which the runtime does not know).

Liveness and readiness (what a service's watchdog and its probes ask) are judged here too, from
one snapshot: *alive* means the scheduler makes progress (the loop turned recently, no lane has
run one job for longer than any inference should take); a process that is up but stuck is not
alive, so its watchdog pings stop and the service manager restarts it. *Ready* means every
pipeline that has not failed is running (or was disabled, or paused by the planner, on purpose).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field

from edge_runtime.config.pipeline import DiagnosticsConfig, Priority
from edge_runtime.runtime.status import PipelineStatus, RuntimeStatus

#: Seconds of outputs behind ``PipelineStatus.hz`` (``RunMetrics.recent_hz``).
RATE_WINDOW_S = 2.0


class Level(enum.IntEnum):
    """Ordered as diagnostic_msgs/DiagnosticStatus levels (OK 0, WARN 1, ERROR 2)."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class HealthReport:
    """One status: a pipeline's, or the module's (``name`` = :data:`POWER`)."""

    name: str
    level: Level
    message: str
    values: dict[str, str] = field(default_factory=dict)


#: The name of the report on the power mode and lanes.
POWER = "power"


@dataclass(frozen=True)
class _Counters:
    misses: int
    drops: int
    bad_frames: int
    errors: int
    rejected: int


class HealthMonitor:
    """Turns successive status snapshots into per-window health reports."""

    def __init__(self, thresholds: DiagnosticsConfig) -> None:
        self.thresholds = thresholds
        self._previous: dict[str, _Counters] = {}

    def reset(self) -> None:
        """Forget the previous window (a new activation starts counting from zero)."""
        self._previous.clear()

    def report(self, status: RuntimeStatus,
               rejected: Mapping[str, int] | None = None) -> list[HealthReport]:
        """One report per pipeline, then the power report. ``rejected`` counts frames the
        host refused before they reached the runtime, per pipeline (totals, not deltas)."""
        rejected = rejected or {}
        reports = [self._pipeline(status, pipeline, rejected.get(name, 0))
                   for name, pipeline in status.pipelines.items()]
        for gone in set(self._previous) - set(status.pipelines):
            del self._previous[gone]
        reports.append(self._power(status))
        return reports

    def _pipeline(self, status: RuntimeStatus, pipeline: PipelineStatus,
                  rejected: int) -> HealthReport:
        now = _Counters(pipeline.deadline_misses, pipeline.drops, pipeline.bad_frames,
                        sum(pipeline.errors.values()), rejected)
        before = self._previous.get(pipeline.name, _Counters(0, 0, 0, 0, 0))
        if _went_back(now, before):
            before = _Counters(0, 0, 0, 0, 0)
        self._previous[pipeline.name] = now
        values = _pipeline_values(pipeline, now, before)
        if status.state != "active":
            return HealthReport(pipeline.name, Level.OK, status.state, values)
        if pipeline.state == "disabled":
            return HealthReport(pipeline.name, Level.OK, "disabled", values)
        level, reasons = self._judge(status, pipeline, now, before)
        return HealthReport(pipeline.name, level, "; ".join(reasons) or "ok", values)

    def _judge(self, status: RuntimeStatus, pipeline: PipelineStatus, now: _Counters,
               before: _Counters) -> tuple[Level, list[str]]:
        found: list[tuple[Level, str]] = []
        if pipeline.state == "failed":
            found.append((Level.ERROR, f"failed: {pipeline.last_error or 'stage errors'}"))
        elif pipeline.state == "exhausted":
            found.append((Level.WARN, "source exhausted"))
        elif pipeline.state == "paused":
            found.append((Level.WARN, f"paused by the planner: {pipeline.reason}"))
        found += self._rate(status, pipeline)
        if pipeline.priority == Priority.CRITICAL.value and now.misses > before.misses:
            found.append((Level.WARN, f"{now.misses - before.misses} deadline misses"))
        for count, label in ((now.errors - before.errors, "stage errors"),
                             (now.bad_frames - before.bad_frames, "bad frames"),
                             (now.rejected - before.rejected, "rejected inputs")):
            if count > 0:
                found.append((Level.WARN, f"{count} {label}"))
        if self.thresholds.warn_on_drops and now.drops > before.drops:
            found.append((Level.WARN, f"{now.drops - before.drops} drops"))
        level = max((lvl for lvl, _ in found), default=Level.OK)
        return level, [reason for _, reason in found]

    def _rate(self, status: RuntimeStatus,
              pipeline: PipelineStatus) -> list[tuple[Level, str]]:
        target = pipeline.rate_hz
        if target is None or pipeline.state != "running" or status.now < RATE_WINDOW_S:
            return []
        share = pipeline.hz / target
        message = f"{pipeline.hz:.1f} Hz of {target:g} Hz"
        if share < self.thresholds.error_rate_fraction:
            return [(Level.ERROR, message)]
        if share < self.thresholds.warn_rate_fraction:
            return [(Level.WARN, message)]
        return []

    def _power(self, status: RuntimeStatus) -> HealthReport:
        values = {"power_mode": status.power_mode, "device": status.device,
                  "watts": _fmt(status.watts),
                  "watts_source": "measured" if status.watts_measured else "estimated"}
        values.update({f"{lane}_utilisation": f"{share:.3f}"
                       for lane, share in sorted(status.lanes.items())})
        telemetry = status.telemetry or {}
        values.update({f"temperature_{zone}_c": f"{celsius:.1f}"
                       for zone, celsius in sorted(telemetry.get("temperatures_c", {}).items())})
        if telemetry.get("throttled") is not None:
            values["throttled"] = str(telemetry["throttled"]).lower()
        if status.governor:
            values["governor_last"] = status.governor[-1]["reason"]
        busy = sorted(lane for lane, share in status.lanes.items()
                      if share > self.thresholds.warn_lane_utilisation)
        if status.state == "active" and status.shedding:
            return HealthReport(POWER, Level.WARN, f"mode {status.power_mode}; shedding "
                                f"non-critical load: {status.shedding}", values)
        if status.state == "active" and busy:
            return HealthReport(POWER, Level.WARN, f"mode {status.power_mode}; saturated: "
                                f"{', '.join(busy)}", values)
        return HealthReport(POWER, Level.OK, f"mode {status.power_mode}", values)


def _went_back(now: _Counters, before: _Counters) -> bool:
    """Counters restart at zero with each activation (and a reloaded pipeline)."""
    return any(a < b for a, b in zip(astuple(now), astuple(before), strict=True))


def _pipeline_values(pipeline: PipelineStatus, now: _Counters,
                     before: _Counters) -> dict[str, str]:
    return {
        "state": pipeline.state, "lane": pipeline.lane, "priority": pipeline.priority,
        "hz": f"{pipeline.hz:.2f}", "target_hz": _fmt(pipeline.rate_hz),
        "p50_ms": _fmt(pipeline.p50_ms), "p99_ms": _fmt(pipeline.p99_ms),
        "frames": str(pipeline.frames),
        "deadline_misses": str(pipeline.deadline_misses),
        "deadline_misses_window": str(now.misses - before.misses),
        "drops": str(pipeline.drops), "bad_frames": str(pipeline.bad_frames),
        "errors": str(now.errors), "rejected_inputs": str(now.rejected),
        "restarts": str(pipeline.restarts),
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


#: A pipeline in one of these states counts as serving (a disabled one was stopped on purpose,
#: a paused one by the planner: the power mode cannot carry it, and it says why).
SERVING = ("running", "disabled", "paused")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    #: Why not (empty when ok), one line for logs, ``STATUS=`` and the health endpoints.
    reason: str = ""


@dataclass(frozen=True)
class Liveness:
    """The thresholds of "stuck"."""

    #: A lane running one job longer than this is hung (an inference takes milliseconds).
    lane_timeout_s: float = 3.0
    #: The loop wakes at least every 0.25 s; not turning for this long means it is stuck.
    loop_timeout_s: float = 2.0

    def alive(self, status: RuntimeStatus) -> Verdict:
        if status.state != "active":
            return Verdict(False, f"runtime is {status.state}")
        if status.loop_idle_s is not None and status.loop_idle_s > self.loop_timeout_s:
            return Verdict(False, f"the scheduler loop has not turned for "
                                  f"{status.loop_idle_s:.1f} s")
        stuck = {lane: busy for lane, busy in status.lanes_busy_s.items()
                 if busy > self.lane_timeout_s}
        if stuck:
            lanes = ", ".join(f"{lane} for {busy:.1f} s" for lane, busy in sorted(stuck.items()))
            return Verdict(False, f"lane stuck on one inference: {lanes}")
        return Verdict(True)


def ready(status: RuntimeStatus) -> Verdict:
    """Every pipeline that has not failed is running (a failed one restarts on its own; the
    others serve meanwhile)."""
    if status.state != "active":
        return Verdict(False, f"runtime is {status.state}")
    waiting = sorted(name for name, p in status.pipelines.items()
                     if p.state != "failed" and p.state not in SERVING)
    if waiting:
        return Verdict(False, "not running: " + ", ".join(
            f"{name} ({status.pipelines[name].state})" for name in waiting))
    return Verdict(True)
