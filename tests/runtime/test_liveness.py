"""Liveness and readiness (runtime.health) on status snapshots: what stops a watchdog, what
makes a service unready."""

from __future__ import annotations

from dataclasses import replace

from edge_runtime.runtime.health import Liveness, ready
from edge_runtime.runtime.status import PipelineStatus, RuntimeStatus


def pipeline(name: str, state: str = "running", hz: float = 30.0) -> PipelineStatus:
    return PipelineStatus(name, state, "gpu", "critical", 30.0, hz, 1.0, 2.0, 100, 0, 0, 0)


def snapshot(**changes: object) -> RuntimeStatus:
    base = RuntimeStatus("active", "wall", 12.0, "40W", 7.5, False, "simulated Orin",
                         {"front": pipeline("front"), "rear": pipeline("rear", hz=10.0)},
                         {"gpu": 0.3}, {"gpu": 0.004}, 0.05)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_turning_loop_with_short_inferences_is_alive() -> None:
    assert Liveness().alive(snapshot()).ok


def test_a_lane_busy_past_its_timeout_is_stuck_and_named() -> None:
    verdict = Liveness(lane_timeout_s=3.0).alive(snapshot(lanes_busy_s={"gpu": 0.01,
                                                                         "dla0": 3.5}))
    assert not verdict.ok and verdict.reason == "lane stuck on one inference: dla0 for 3.5 s"


def test_a_loop_that_stopped_turning_is_stuck() -> None:
    verdict = Liveness(loop_timeout_s=2.0).alive(snapshot(loop_idle_s=2.5))
    assert not verdict.ok and "has not turned for 2.5 s" in verdict.reason


def test_an_inactive_runtime_is_neither_alive_nor_ready() -> None:
    inactive = snapshot(state="inactive", loop_idle_s=None)
    assert not Liveness().alive(inactive).ok and not ready(inactive).ok


def test_ready_ignores_failed_and_disabled_pipelines_but_not_exhausted_ones() -> None:
    pipelines = {"front": pipeline("front"), "rear": pipeline("rear", "failed"),
                 "side": pipeline("side", "disabled")}
    assert ready(snapshot(pipelines=pipelines)).ok
    pipelines["side"] = pipeline("side", "exhausted")
    verdict = ready(snapshot(pipelines=pipelines))
    assert not verdict.ok and verdict.reason == "not running: side (exhausted)"
