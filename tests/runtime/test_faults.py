"""Faults stay local: a failing engine, unreadable frames and a stalled camera each hurt only
their own pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.engines.backends.mock import MockRunner
from edge_runtime.graph.tensors import Feed, Outputs
from edge_runtime.pipelines.sources import Empty, Frame
from edge_runtime.runtime.session import Session
from tests.runtime.conftest import CriticalBesideHeavy, MakeRuntime

THREE = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: flaky
        source: {type: synthetic_camera, width: 64, height: 48, fps: 30}
        engine: tiny.yaml
        priority: high
        faults: {max_consecutive_failures: 3, restart_backoff_s: 0.5}
      - name: bad_images
        source: {type: image_dir, path: images, fps: 10}
        engine: tiny.yaml
        priority: normal
      - name: steady
        source: {type: synthetic_camera, width: 64, height: 48, fps: 30, seed: 7}
        engine: tiny.yaml
        postprocess: {type: classification, top_k: 1}
        priority: critical
        deadline_ms: 33
"""


@pytest.fixture
def three(write: Callable[[str, str], Path], tiny_recipe: Path, tmp_path: Path) -> Path:
    del tiny_recipe
    images = tmp_path / "images"
    images.mkdir()
    np.save(images / "a_good.npy", np.zeros((48, 64, 3), np.uint8))
    (images / "b_corrupt.npy").write_bytes(b"not an array")
    np.save(images / "c_wrong_shape.npy", np.zeros((48, 64, 2), np.uint8))
    return write("three.yaml", THREE)


def raise_on(runner: MockRunner, every: int | None, always_after: int | None = None) -> None:
    """Make a runner's engine raise on every ``every``-th inference, or on every inference
    after ``always_after``."""
    real = runner.infer_impl
    calls = [0]

    def infer_impl(feed: Feed) -> Outputs:
        calls[0] += 1
        if (every and calls[0] % every == 0) or \
                (always_after is not None and calls[0] > always_after):
            raise RuntimeError(f"engine fault on call {calls[0]}")
        return real(feed)

    runner.infer_impl = infer_impl  # type: ignore[method-assign]


def test_a_failing_engine_and_unreadable_frames_do_not_touch_the_steady_pipeline(
        make_runtime: MakeRuntime, three: Path) -> None:
    runtime = make_runtime(three)
    runtime.configure()
    flaky = runtime.pipelines["flaky"].runner
    assert isinstance(flaky, MockRunner)
    raise_on(flaky, every=5, always_after=60)
    runtime.activate()
    runtime.run_for(1.5)
    mid = runtime.status().pipelines
    runtime.run_for(1.5)
    status = runtime.status().pipelines
    summary = runtime.deactivate()
    steady = summary.pipelines["steady"]["40W"]
    assert steady["frames"] == 90 and steady["hz"] == pytest.approx(30.0)
    assert steady["deadline_misses"] == 0 and steady["drops"] == 0
    # every 5th frame fails (counted, logged once per kind) and the pipeline runs on ...
    assert mid["flaky"].errors == {"engine: RuntimeError": 9}
    assert (mid["flaky"].state, mid["flaky"].frames) == ("running", 36)
    # ... from call 60 (t = 2.0 s) every frame fails: 3 in a row -> failed at call 62,
    # restarted after 0.5 s, failed again after 3 more (calls 63-65), next restart in 1 s
    assert status["flaky"].errors == {"engine: RuntimeError": 17}
    assert (status["flaky"].state, status["flaky"].restarts) == ("failed", 1)
    assert status["flaky"].last_error is not None and "engine fault" in status["flaky"].last_error
    # two of every three images are unreadable: skipped and counted, the pipeline runs on
    assert status["bad_images"].state == "running"
    assert status["bad_images"].bad_frames == 20 and status["bad_images"].frames == 10
    assert summary.faults["bad_images"]["bad_frames"] == 20


class StallingCamera:
    """A camera that stops delivering between ``stall_from`` and ``stall_to`` seconds."""

    def __init__(self, fps: float, stall_from: float, stall_to: float) -> None:
        self.rate_hz: float | None = fps
        self.stall = (stall_from, stall_to)

    def read(self, now: float) -> Frame | Empty:
        if self.stall[0] <= now < self.stall[1]:
            return Empty.NOTHING_NEW
        index = int(now * (self.rate_hz or 1) + 1e-9)
        return Frame(index, np.zeros((32, 32, 3), np.uint8), index / (self.rate_hz or 1))

    def prefetch(self, at: float) -> None:
        del at

    def close(self) -> None:
        pass


def test_a_stalled_camera_releases_its_reservation_within_one_period(
        make_runtime: MakeRuntime, critical_beside_heavy: CriticalBesideHeavy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # at 15 W the 8-layer heavy engine never fits beside the 30 Hz critical pipeline. The
    # planner would pause it for that; this is the dispatcher's own rule, so the planner is
    # kept out of the way and the heavy pipeline runs as configured
    monkeypatch.setattr(Session, "apply_plan", lambda self, plan: None)
    path = critical_beside_heavy("15W", layers=28, heavy_fps=10)
    runtime = make_runtime(path, sources={
        "critical": StallingCamera(30, stall_from=1.0, stall_to=1e9)})
    runtime.configure()
    heavy_outputs: list[float] = []
    runtime.subscribe(lambda o: heavy_outputs.append(o.done_time), ["heavy"])
    heavy = runtime.pipelines["heavy"].runner
    assert isinstance(heavy, MockRunner)
    runtime.activate()
    runtime.run_for(1.0)
    assert heavy_outputs == []  # deadline protection keeps the heavy job off the lane
    runtime.run_for(2.0)
    # the camera stalled at 1.0 s (its last frame came at 0.9667 s): its reservation expires
    # once that frame's successor could no longer start in time (within one camera period of
    # the stall), and the waiting heavy frame starts then
    assert heavy_outputs, "the best-effort pipeline starved behind a stalled camera"
    started = heavy_outputs[0] - heavy.modelled_latency_s()
    assert 1.0 <= started <= 1.0 + 1 / 30 + 1e-6
    assert len(heavy_outputs) == pytest.approx(2.0 / heavy.modelled_latency_s(), abs=1)
