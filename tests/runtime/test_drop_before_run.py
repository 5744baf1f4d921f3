"""Drop before run (scheduler rule 9) through the runtime, on the simulated clock: a frame that
can no longer meet its deadline is dropped before it takes the lane, counted as late."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.conftest import CriticalBesideHeavy, MakeRuntime


def test_frames_that_cannot_make_their_deadline_never_take_the_lane(
        critical_beside_heavy: CriticalBesideHeavy, make_runtime: MakeRuntime) -> None:
    path: Path = critical_beside_heavy("40W", layers=8)
    text = path.read_text(encoding="utf-8")
    # the heavy pipeline (tens of ms on the simulated GPU) gets a 1 ms deadline: hopeless
    path.write_text(text + "    deadline_ms: 1\n", encoding="utf-8")
    runtime = make_runtime(path)
    runtime.configure()
    runtime.activate()
    runtime.run_for(2.0)
    status = runtime.status().pipelines
    summary = runtime.deactivate()
    assert status["heavy"].late_drops > 50 and status["heavy"].frames == 0
    assert status["heavy"].deadline_misses == 0  # nothing ran late: it never ran
    assert status["critical"].frames == 60 and status["critical"].deadline_misses == 0
    row = summary.pipelines["heavy"]["40W"]
    assert row["late_drops"] == status["heavy"].late_drops and row["frames"] == 0
