"""Scheduler rule 11 through the runtime: on the CPU lane (onnxruntime's CPU provider, whose
threads take every core) a lower-class frame is not preprocessed beside a higher-class run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_runtime.config.recipe import BackendName
from edge_runtime.pipelines.sources import Frame
from tests.runtime.conftest import MakeRuntime

#: A critical 30 Hz pipeline and a best-effort 7 Hz one on one engine, each run 10 ms long
#: (on the simulated clock): the best-effort ticks fall inside critical runs now and then.
CPU_SET = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: critical
        source: {type: synthetic_camera, width: 64, height: 48, fps: 30}
        engine: tiny.yaml
        priority: critical
        deadline_ms: 33
      - name: background
        source: {type: synthetic_camera, width: 64, height: 48, fps: 7}
        engine: tiny.yaml
        priority: best_effort
"""


def preprocessing_beside(make_runtime: MakeRuntime, path: Path) -> tuple[int, int]:
    """(background frames preprocessed while a critical job ran on the CPU lane, background
    frames preprocessed in all) over two simulated seconds."""
    runtime = make_runtime(path, backend=BackendName.ONNXRUNTIME)
    runtime.configure()
    runtime.activate()
    session: Any = runtime._session  # the session's scheduler is no public API
    runner: Any = runtime.pipelines["critical"].runner
    infer = runner.infer

    def ten_ms(*args: Any, **kwargs: Any) -> Any:  # a run as long as a small detector's
        outputs = infer(*args, **kwargs)
        runner.last_device_time_s = 0.010
        return outputs

    runner.infer = ten_ms
    background = runtime.pipelines["background"]
    prepare = background.prepare
    beside, total = 0, 0

    def watched(frame: Frame) -> Any:
        nonlocal beside, total
        running = session.scheduler.running("cpu")
        beside += running is not None and running.pipeline == "critical"
        total += 1
        return prepare(frame)

    background.prepare = watched  # type: ignore[method-assign]
    runtime.run_for(2.0)
    summary = runtime.deactivate().to_dict()
    assert summary["pipelines"]["critical"]["40W"]["deadline_misses"] == 0
    return beside, total


@pytest.mark.usefixtures("tiny_recipe")
def test_lower_classes_wait_for_a_critical_run_on_the_cpu_lane_to_preprocess(
        make_runtime: MakeRuntime, write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write("set.yaml", CPU_SET)
    beside, total = preprocessing_beside(make_runtime, path)
    assert beside == 0 and total >= 13
    # without rule 11 (the CPU lane treated as an accelerator) some are, so the set exercises it
    monkeypatch.setattr("edge_runtime.runtime.session.HOST_CPU_LANES", frozenset())
    beside, total = preprocessing_beside(make_runtime, path)
    assert beside > 0
