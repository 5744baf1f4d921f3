"""Drop before run (scheduler rule 9) through the runtime, on the simulated clock: a frame that
can no longer meet its deadline is dropped before it takes the lane, counted as late."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.runtime.session import Session
from edge_runtime.scheduler.core import PROBE_AFTER
from tests.runtime.conftest import CriticalBesideHeavy, MakeRuntime


def hopeless(critical_beside_heavy: CriticalBesideHeavy) -> Path:
    path: Path = critical_beside_heavy("40W", layers=28)
    text = path.read_text(encoding="utf-8")
    # the heavy pipeline (tens of ms on the simulated GPU) gets a 1 ms deadline: hopeless
    path.write_text(text.replace("deadline_ms: 1000", "deadline_ms: 1"), encoding="utf-8")
    return path


def test_the_planner_pauses_a_pipeline_that_can_never_meet_its_deadline(
        critical_beside_heavy: CriticalBesideHeavy, make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(hopeless(critical_beside_heavy))
    runtime.configure()
    runtime.activate()
    runtime.run_for(1.0)
    heavy = runtime.status().pipelines["heavy"]
    assert heavy.state == "paused" and heavy.frames == 0 and heavy.late_drops == 0
    assert heavy.reason is not None and "1.0 ms deadline" in heavy.reason


def test_frames_that_cannot_make_their_deadline_never_take_the_lane(
        critical_beside_heavy: CriticalBesideHeavy, make_runtime: MakeRuntime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The dispatcher's own rule, with the planner out of the way (it would pause the
    pipeline, as the test above shows): every frame is dropped before it runs, but for one
    probe after each PROBE_AFTER drops (which is late, as expected)."""
    monkeypatch.setattr(Session, "apply_plan", lambda self, plan: None)
    runtime = make_runtime(hopeless(critical_beside_heavy))
    runtime.configure()
    runtime.activate()
    runtime.run_for(2.0)
    status = runtime.status().pipelines
    summary = runtime.deactivate()
    heavy = status["heavy"]
    # PROBE_AFTER late drops, then a probe; it never gets the lane (it would not end before
    # the next critical frame must start: rule 7) and is replaced by the next frame, again
    assert heavy.late_drops > 40 and heavy.frames == 0 and heavy.deadline_misses == 0
    assert heavy.drops == pytest.approx(heavy.late_drops / PROBE_AFTER, abs=1)
    assert status["critical"].frames == 60 and status["critical"].deadline_misses == 0
    row = summary.pipelines["heavy"]["40W"]
    assert row["late_drops"] == heavy.late_drops and row["frames"] == heavy.frames
