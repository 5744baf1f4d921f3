"""Control while active: power mode, enable, rate and reload, from the host's thread."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.errors import UserError
from edge_runtime.runtime.session import Session
from edge_runtime.scheduler.core import Scheduler
from tests.runtime.conftest import CriticalBesideHeavy, MakeRuntime


@pytest.fixture
def switched(critical_beside_heavy: CriticalBesideHeavy) -> Path:
    # the heavy engine takes 47 ms at 40 W (fits between critical frames), 216 ms at 15 W
    # (never fits)
    return critical_beside_heavy("40W", layers=10)


def run_with_switch(make_runtime: MakeRuntime, path: Path) -> dict[str, Any]:
    runtime = make_runtime(path)
    runtime.configure()
    runtime.activate()
    runtime.run_for(1.0)
    runtime.set_power_mode("15W")  # from the host's thread, between loop steps
    runtime.run_for(1e-6)
    assert runtime.status().power_mode == "15W"
    runtime.run_for(2.0)
    table: dict[str, Any] = runtime.deactivate().to_dict()["pipelines"]
    return table


def test_a_down_shift_causes_no_critical_miss(make_runtime: MakeRuntime, switched: Path) -> None:
    table = run_with_switch(make_runtime, switched)
    assert table["heavy"]["40W"]["frames"] > 0  # it did run in the gaps at 40 W
    assert table["critical"]["40W"]["deadline_misses"] == 0
    assert table["critical"]["15W"]["deadline_misses"] == 0
    assert table["critical"]["15W"]["frames"] >= 59
    assert table["critical"]["15W"]["drops"] == 0
    assert "15W" not in table["heavy"] or table["heavy"]["15W"]["frames"] == 0


def test_without_fresh_estimates_the_same_down_shift_misses(
        make_runtime: MakeRuntime, switched: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control for the test above: with no re-plan at the switch and stale (40 W)
    run-time estimates, the heavy job looks like it still fits, starts, runs 216 ms, and the
    critical frames that arrive meanwhile are late or replaced by newer ones (dropped)."""
    monkeypatch.setattr(Scheduler, "reset_estimates", lambda self, *estimates: None)
    monkeypatch.setattr(Session, "switch_power",
                        lambda self, mode: self.power.switch(mode.id))
    table = run_with_switch(make_runtime, switched)
    critical = table["critical"]["15W"]
    assert table["heavy"]["15W"]["frames"] >= 1
    assert critical["deadline_misses"] + critical["drops"] >= 5, table


def test_set_power_mode_from_another_thread_on_the_wall_clock(make_runtime: MakeRuntime,
                                                              switched: Path) -> None:
    runtime = make_runtime(switched, clock="wall")
    runtime.configure()
    with pytest.raises(UserError, match="unknown power mode '99W'"):
        runtime.set_power_mode("99W")
    runtime.activate()
    assert runtime.status().power_mode == "40W"
    threading.Thread(target=runtime.set_power_mode, args=("15W",)).start()
    deadline = time.monotonic() + 10.0
    while runtime.status().power_mode != "15W" and time.monotonic() < deadline:
        time.sleep(0.005)
    assert runtime.status().power_mode == "15W"
    summary = runtime.deactivate()
    assert summary.power_switches == 1 and set(summary.modes) == {"40W", "15W"}


TWO = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: a
        source: {type: synthetic_camera, width: 32, height: 32, fps: 30}
        engine: tiny.yaml
        priority: critical
        deadline_ms: 33
      - name: b
        source: {type: synthetic_camera, width: 32, height: 32, fps: 10}
        engine: tiny.yaml
"""


def frames(runtime: object, name: str) -> int:
    return runtime.status().pipelines[name].frames  # type: ignore[attr-defined, no-any-return]


def test_enable_and_set_rate_take_effect_at_the_next_step(
        make_runtime: MakeRuntime, write: Callable[[str, str], Path], tiny_recipe: Path) -> None:
    del tiny_recipe
    runtime = make_runtime(write("two.yaml", TWO))
    runtime.configure()
    runtime.activate()
    runtime.run_for(1.0)
    assert (frames(runtime, "a"), frames(runtime, "b")) == (30, 10)
    runtime.enable("b", False)
    runtime.set_rate("a", 10.0)
    runtime.run_for(1.0)
    status = runtime.status().pipelines
    assert status["b"].state == "disabled" and status["b"].frames == 10
    assert status["a"].rate_hz == 10.0 and status["a"].frames == 40
    runtime.enable("b", True)
    runtime.set_rate("a", None)  # back to the configured 30 Hz
    runtime.run_for(1.0)
    assert (frames(runtime, "a"), frames(runtime, "b")) == (70, 20)
    with pytest.raises(ValueError, match="no pipeline 'c'"):
        runtime.enable("c")
    with pytest.raises(ValueError, match="rate must be positive"):
        runtime.set_rate("a", 0.0)


@pytest.mark.parametrize("clock", ["sim", "wall"])
def test_reload_swaps_changed_pipelines_and_never_stops_the_critical_one(
        make_runtime: MakeRuntime, write: Callable[[str, str], Path], tiny_recipe: Path,
        clock: str) -> None:
    del tiny_recipe
    path = write("two.yaml", TWO)
    runtime = make_runtime(path, clock=clock)
    runtime.configure()
    critical_done: list[float] = []
    runtime.subscribe(lambda o: critical_done.append(o.done_time), ["a"], queue_size=10_000)
    runtime.activate()
    advance = runtime.run_for if clock == "sim" else time.sleep
    advance(1.0)
    engine_a = runtime.pipelines["a"].runner
    changed = write("two-changed.yaml", TWO.replace("fps: 10", "fps: 20") + """
      - name: c
        source: {type: synthetic_camera, width: 32, height: 32, fps: 5}
        engine: tiny.yaml
""")
    report = runtime.reload(changed)
    after_swap = len(critical_done)
    assert (report.changed, report.added, report.unchanged) == (["b"], ["c"], ["a"])
    # b's frames changed, and its fp16 engine was gated on them: built anew, like c's
    assert sorted(e.pipeline for e in report.engines) == ["b", "c"]
    assert runtime.pipelines["a"].runner is engine_a  # untouched
    advance(1.0)
    if clock == "wall":  # a loaded machine may take longer to start c's camera process
        deadline = time.monotonic() + 20.0
        while runtime.status().pipelines["c"].frames == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    status = runtime.status().pipelines
    summary = runtime.deactivate()
    assert status["b"].rate_hz == 20.0 and status["c"].frames > 0
    # the critical pipeline went on producing through the swap (on the wall clock nothing
    # about timing is asserted) ...
    assert len(critical_done) > after_swap, "the critical pipeline stopped at the reload"
    if clock == "sim":
        # ... and on the simulated clock it never missed a beat: one period between outputs
        gaps = [b - a for a, b in itertools.pairwise(critical_done)]
        assert max(gaps) <= 1 / 30 + 1e-6
        a = summary.pipelines["a"]["40W"]
        assert a["frames"] == 60 and a["deadline_misses"] == 0
        assert summary.pipelines["c"]["40W"]["frames"] == 5
    removed = runtime.reload(path)
    assert removed.removed == ["c"] and "c" not in runtime.pipelines
