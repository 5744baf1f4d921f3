"""Health reports from status snapshots: each rule, the window deltas, and counters that
restart with an activation."""

from __future__ import annotations

import dataclasses

import pytest

from edge_runtime.config.pipeline import DiagnosticsConfig
from edge_runtime.runtime.health import POWER, HealthMonitor, HealthReport, Level
from edge_runtime.runtime.status import PipelineStatus, RuntimeStatus


def pipeline(**changes: object) -> PipelineStatus:
    base = PipelineStatus(name="front", state="running", lane="gpu", priority="critical",
                          rate_hz=30.0, hz=30.0, p50_ms=2.0, p99_ms=5.0, frames=300,
                          deadline_misses=0, drops=0, bad_frames=0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def status(*pipelines: PipelineStatus, now: float = 10.0, state: str = "active",
           lanes: dict[str, float] | None = None) -> RuntimeStatus:
    return RuntimeStatus(state=state, clock="wall", now=now, power_mode="30W", watts=9.5,
                         watts_measured=False, device="jetson-agx-orin-32gb",
                         pipelines={p.name: p for p in pipelines},
                         lanes=lanes if lanes is not None else {"gpu": 0.4})


def front(reports: list[HealthReport]) -> HealthReport:
    return next(r for r in reports if r.name == "front")


def test_a_pipeline_at_its_rate_is_ok_and_reports_its_figures() -> None:
    report = front(HealthMonitor(DiagnosticsConfig()).report(status(pipeline())))
    assert report.level is Level.OK and report.message == "ok"
    assert report.values["hz"] == "30.00" and report.values["p99_ms"] == "5"
    assert report.values["target_hz"] == "30"


@pytest.mark.parametrize(("hz", "level"), [(27.5, Level.OK), (26.0, Level.WARN),
                                           (14.0, Level.ERROR)])
def test_the_rate_thresholds_come_from_the_config(hz: float, level: Level) -> None:
    monitor = HealthMonitor(DiagnosticsConfig(warn_rate_fraction=0.9, error_rate_fraction=0.5))
    report = front(monitor.report(status(pipeline(hz=hz))))
    assert report.level is level
    if level is not Level.OK:
        assert f"{hz:.1f} Hz of 30 Hz" in report.message


def test_the_rate_is_not_judged_before_a_full_window_nor_without_a_rate() -> None:
    monitor = HealthMonitor(DiagnosticsConfig())
    assert front(monitor.report(status(pipeline(hz=3.0), now=1.0))).level is Level.OK
    assert front(monitor.report(status(pipeline(hz=3.0, rate_hz=None)))).level is Level.OK


def test_a_critical_miss_warns_in_its_window_only() -> None:
    monitor = HealthMonitor(DiagnosticsConfig())
    monitor.report(status(pipeline(deadline_misses=2)))
    same = front(monitor.report(status(pipeline(deadline_misses=2))))
    assert same.level is Level.OK
    more = front(monitor.report(status(pipeline(deadline_misses=5))))
    assert more.level is Level.WARN and more.message == "3 deadline misses"
    assert more.values["deadline_misses_window"] == "3"


def test_misses_of_a_normal_pipeline_do_not_warn() -> None:
    monitor = HealthMonitor(DiagnosticsConfig())
    report = front(monitor.report(status(pipeline(priority="normal", deadline_misses=4))))
    assert report.level is Level.OK


def test_errors_bad_frames_rejected_inputs_and_failure() -> None:
    monitor = HealthMonitor(DiagnosticsConfig())
    report = front(monitor.report(status(pipeline(errors={"engine": 2}, bad_frames=1)),
                                  rejected={"front": 4}))
    assert report.level is Level.WARN
    assert "2 stage errors" in report.message and "1 bad frames" in report.message
    assert "4 rejected inputs" in report.message
    failed = front(monitor.report(status(pipeline(state="failed", last_error="engine: boom",
                                                  hz=0.0))))
    assert failed.level is Level.ERROR and failed.message.startswith("failed: engine: boom")


def test_drops_warn_only_when_asked() -> None:
    assert front(HealthMonitor(DiagnosticsConfig()).report(
        status(pipeline(drops=3)))).level is Level.OK
    strict = front(HealthMonitor(DiagnosticsConfig(warn_on_drops=True)).report(
        status(pipeline(drops=3))))
    assert strict.level is Level.WARN and strict.message == "3 drops"


def test_counters_restarting_at_zero_start_a_new_window() -> None:
    monitor = HealthMonitor(DiagnosticsConfig())
    monitor.report(status(pipeline(deadline_misses=9)))
    again = front(monitor.report(status(pipeline(deadline_misses=1))))
    assert again.level is Level.WARN and again.message == "1 deadline misses"


def test_disabled_and_inactive_are_ok() -> None:
    monitor = HealthMonitor(DiagnosticsConfig())
    disabled = front(monitor.report(status(pipeline(state="disabled", hz=0.0))))
    assert (disabled.level, disabled.message) == (Level.OK, "disabled")
    inactive = front(monitor.report(status(pipeline(hz=0.0), state="inactive")))
    assert (inactive.level, inactive.message) == (Level.OK, "inactive")


def test_the_power_report_names_the_mode_and_warns_on_a_saturated_lane() -> None:
    monitor = HealthMonitor(DiagnosticsConfig(warn_lane_utilisation=0.9))
    calm = monitor.report(status(pipeline()))[-1]
    assert (calm.name, calm.level, calm.message) == (POWER, Level.OK, "mode 30W")
    assert calm.values["gpu_utilisation"] == "0.400"
    assert calm.values["watts_source"] == "estimated"
    busy = monitor.report(status(pipeline(), lanes={"gpu": 0.97, "dla0": 0.2}))[-1]
    assert busy.level is Level.WARN and "saturated: gpu" in busy.message


def test_error_fraction_above_warn_fraction_is_refused() -> None:
    with pytest.raises(ValueError, match="error_rate_fraction"):
        DiagnosticsConfig(warn_rate_fraction=0.5, error_rate_fraction=0.8)


def test_a_pipeline_the_planner_paused_warns_with_the_reason() -> None:
    paused = pipeline(name="rear", state="paused", priority="best_effort", hz=0.0,
                      reason="paused at 15W: gpu was over by 20%")
    report = next(r for r in HealthMonitor(DiagnosticsConfig()).report(status(paused))
                  if r.name == "rear")
    assert report.level is Level.WARN
    assert report.message == "paused by the planner: paused at 15W: gpu was over by 20%"
