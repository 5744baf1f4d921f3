"""The runtime end to end on tiny models: exact on the simulated clock, real threads on the
wall clock (where nothing about speed is asserted: that is bench/'s job)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_runtime.config.recipe import BackendName, Precision
from edge_runtime.engines.backends.mock import MockRunner
from edge_runtime.sim import Lane
from tests.runtime.conftest import CriticalBesideHeavy, MakeRuntime

TWO_PIPELINES = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: fast
        source: {type: synthetic_camera, width: 64, height: 48, fps: 30, scene: single}
        engine: tiny.yaml
        postprocess: {type: classification, top_k: 1}
        priority: critical
        deadline_ms: 33
        sinks: [{type: jsonl, path: SINK}]
      - name: slow
        source: {type: synthetic_camera, width: 64, height: 48, fps: 10}
        engine: tiny.yaml
        priority: best_effort
"""


@pytest.fixture
def two_pipelines(write: Callable[[str, str], Path], tiny_recipe: Path, tmp_path: Path) -> Path:
    del tiny_recipe
    return write("set.yaml", TWO_PIPELINES.replace("SINK", str(tmp_path / "fast.jsonl")))


def run(make_runtime: MakeRuntime, path: Path, seconds: float, clock: str = "sim",
        **options: object) -> dict:  # type: ignore[type-arg]
    runtime = make_runtime(path, clock=clock, **options)
    runtime.configure()
    runtime.activate()
    if clock == "sim":
        runtime.run_for(seconds)
    else:
        import time

        time.sleep(seconds)
    summary = runtime.deactivate().to_dict()
    runtime.shutdown()
    return summary


def test_simulated_run_counts_frames_per_mode_exactly(make_runtime: MakeRuntime,
                                                      two_pipelines: Path,
                                                      tmp_path: Path) -> None:
    summary = run(make_runtime, two_pipelines, 2.0, power_schedule=[(1.0, "15W")])
    table = summary["pipelines"]
    assert {mode: row["frames"] for mode, row in table["fast"].items()} == {"40W": 30, "15W": 30}
    assert {mode: row["frames"] for mode, row in table["slow"].items()} == {"40W": 10, "15W": 10}
    assert table["fast"]["40W"]["hz"] == pytest.approx(30.0)
    assert table["fast"]["15W"]["p50_ms"] > table["fast"]["40W"]["p50_ms"]
    assert table["fast"]["40W"]["deadline_misses"] == 0
    assert set(summary["modes"]) == {"40W", "15W"}
    assert summary["modes"]["15W"]["watts"] < summary["modes"]["40W"]["watts"]
    assert summary["power_switches"] == 1
    # real outputs (the recipe asks the mock for onnxruntime outputs) are scored
    assert table["fast"]["40W"]["accuracy_metric"] == "top1"
    lines = (tmp_path / "fast.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert len(lines) == 60
    assert set(record) == {"pipeline", "frame", "capture_ts", "latency_ms", "power_mode",
                           "outputs"}
    assert set(record["outputs"]) >= {"labels", "scores"}


def test_simulated_runs_repeat_exactly_whatever_the_steps(make_runtime: MakeRuntime,
                                                          two_pipelines: Path) -> None:
    first = run(make_runtime, two_pipelines, 1.5)
    runtime = make_runtime(two_pipelines)
    runtime.configure()
    runtime.activate()
    for _ in range(15):
        runtime.run_for(0.1)
    second = runtime.deactivate().to_dict()
    assert first["pipelines"] == second["pipelines"]
    assert first["modes"] == second["modes"]


def test_latency_on_the_simulated_clock_is_the_device_models(make_runtime: MakeRuntime,
                                                            two_pipelines: Path) -> None:
    runtime = make_runtime(two_pipelines)
    runtime.configure()
    runner = runtime.pipelines["fast"].runner
    assert isinstance(runner, MockRunner)
    modelled_ms = runner.modelled_latency_s() * 1e3
    runtime.activate()
    runtime.run_for(1.0)
    summary = runtime.deactivate().to_dict()
    # both pipelines tick at t=0: the critical one goes first and is never queued behind
    assert summary["pipelines"]["fast"]["40W"]["p99_ms"] == pytest.approx(modelled_ms, abs=6e-4)
    assert summary["pipelines"]["slow"]["40W"]["p99_ms"] == pytest.approx(2 * modelled_ms,
                                                                          abs=6e-4)


@pytest.mark.parametrize(("layers", "size", "fits"), [(10, 256, True), (28, 512, False)],
                         ids=["heavy-fits-in-gaps", "heavy-never-fits"])
def test_critical_frames_are_protected_from_a_heavy_best_effort_engine(
        make_runtime: MakeRuntime, critical_beside_heavy: CriticalBesideHeavy, layers: int,
        size: int, fits: bool) -> None:
    path = critical_beside_heavy("15W", layers=layers, size=size)
    runtime = make_runtime(path)
    runtime.configure()
    heavy = runtime.pipelines["heavy"].runner
    light = runtime.pipelines["critical"].runner
    assert isinstance(heavy, MockRunner) and isinstance(light, MockRunner)
    heavy_s, light_s = heavy.modelled_latency_s(), light.modelled_latency_s()
    assert heavy_s > 1 / 30  # the best-effort engine alone overloads the GPU at 30 Hz
    runtime.activate()
    runtime.run_for(3.0)
    state = runtime.status().pipelines["heavy"].state
    table = runtime.deactivate().to_dict()["pipelines"]
    critical, best_effort = table["critical"]["15W"], table["heavy"]["15W"]
    # scheduler rule 7: every critical frame is served in time (the last one may still be
    # waiting when the run ends)
    assert critical["frames"] >= 89
    assert critical["drops"] == 0 and critical["deadline_misses"] == 0
    # a heavy job fits after a critical one when it ends before the next critical frame's
    # latest start: one period + deadline - one critical run, less the critical run before it;
    # the planner knows it (its gap test), and pauses a pipeline that would only starve
    assert (heavy_s <= 1 / 30 + 0.033 - 2 * light_s) is fits, (heavy_s, light_s)
    assert (best_effort["frames"] > 0) is fits, (heavy_s, light_s)
    assert (state == "paused") is not fits
    assert (best_effort["reason"] is not None and "paused" in best_effort["reason"]) is not fits
    if fits:
        assert critical["p99_ms"] <= (heavy_s + light_s) * 1e3 + 1e-3


def test_wall_clock_run_uses_real_threads_and_writes_its_outputs(
        make_runtime: MakeRuntime, two_pipelines: Path, tmp_path: Path) -> None:
    summary = run(make_runtime, two_pipelines, 1.2, clock="wall",
                  power_schedule=[(0.6, "15W")])
    fast = summary["pipelines"]["fast"]
    assert set(fast) == {"40W", "15W"} and all(row["frames"] > 0 for row in fast.values())
    lines = (tmp_path / "fast.jsonl").read_text().splitlines()
    assert len(lines) == sum(row["frames"] for row in fast.values())
    assert not (tmp_path / "fast.jsonl.part").exists()
    assert summary["clock"] == "wall"


def test_onnxruntime_backend_runs_on_the_cpu_lane(make_runtime: MakeRuntime,
                                                  two_pipelines: Path) -> None:
    summary = run(make_runtime, two_pipelines, 1.0, backend=BackendName.ONNXRUNTIME)
    assert {e["lane"] for e in summary["engines"].values()} == {"cpu"}
    assert summary["pipelines"]["fast"]["40W"]["frames"] == 30
    assert Lane.CPU.value in summary["modes"]["40W"]["utilisation"]
    assert Precision.FP32.value == summary["engines"]["fast"]["precision"]
