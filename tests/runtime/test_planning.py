"""The planner in the runtime: admission at configure and activate, re-planning at a power switch
(on the simulated clock, so every figure is exact)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_runtime.errors import UserError
from edge_runtime.scheduler.costs import CostKey
from tests.conftest import REPO
from tests.runtime.conftest import MakeRuntime, heavy_model

Write = Callable[[str, str], Path]

WITH_VARIANT = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: critical
        source: {type: synthetic_camera, width: 32, height: 32, fps: 30}
        engine: tiny.yaml
        priority: critical
        deadline_ms: 33
      - name: heavy
        source: {type: synthetic_camera, width: 32, height: 32, fps: 10}
        engine: heavy.yaml
        variants: [heavy_dla.yaml]
        priority: best_effort
"""

CRITICAL_HEAVY = """
    device: jetson-agx-orin-32gb
    power_mode: {mode}
    pipelines:
      - name: critical
        source: {{type: synthetic_camera, width: 32, height: 32, fps: 10}}
        engine: heavy.yaml
        priority: critical
        deadline_ms: 60
"""


@pytest.fixture
def heavy(write: Write, tiny_recipe: Path, tmp_path: Path) -> None:
    """heavy.yaml (the GPU: 47 ms at 40 W, 216 ms at 15 W) and heavy_dla.yaml (the same model
    on DLA core 0; fp32, which the simulated DLA prices as fp16: these tests are about
    scheduling, and fp16 would also run the accuracy gate)."""
    del tiny_recipe
    heavy_model(tmp_path / "heavy.onnx", layers=10)
    write("heavy.yaml", "onnx: heavy.onnx\nprecision: fp32\n")
    write("heavy_dla.yaml", "onnx: heavy.onnx\nprecision: fp32\ntarget: {device: dla0}\n")


@pytest.mark.usefixtures("heavy")
def test_a_switch_replans_at_once_and_the_critical_pipeline_misses_nothing(
        make_runtime: MakeRuntime, write: Write) -> None:
    runtime = make_runtime(write("set.yaml", WITH_VARIANT))
    runtime.configure()
    runtime.activate()
    runtime.run_for(1.0)
    before = runtime.status()
    assert before.pipelines["heavy"].lane == "gpu" and before.pipelines["heavy"].reason is None
    assert before.plan is not None and before.plan["fits"] is True
    runtime.set_power_mode("15W")
    runtime.run_for(1e-6)  # the switch is one loop step: the new plan is in force at once
    after = runtime.status().pipelines["heavy"]
    assert (after.lane, after.variant) == ("dla0", "heavy_dla")
    assert after.reason is not None and "moved from heavy on gpu" in after.reason
    runtime.run_for(2.0)
    summary = runtime.deactivate().to_dict()
    critical, moved = summary["pipelines"]["critical"], summary["pipelines"]["heavy"]
    assert critical["15W"]["deadline_misses"] == 0 and critical["15W"]["drops"] == 0
    assert critical["15W"]["frames"] >= 59
    assert critical["40W"]["deadline_misses"] == 0
    assert moved["15W"]["lane"] == "dla0" and moved["15W"]["frames"] >= 19
    assert moved["40W"]["lane"] == "gpu" and moved["40W"]["reason"] is None
    assert summary["plans"]["15W"]["pipelines"]["heavy"]["lane"] == "dla0"
    assert summary["modes"]["15W"]["utilisation"]["dla0"] > 0


@pytest.mark.usefixtures("heavy")
def test_a_critical_set_that_cannot_fit_fails_configure_loudly(make_runtime: MakeRuntime,
                                                              write: Write) -> None:
    runtime = make_runtime(write("set.yaml", CRITICAL_HEAVY.format(mode="15W")))
    with pytest.raises(UserError) as raised:
        runtime.configure()
    text = str(raised.value)
    assert "set.yaml" in text and "15W" in text and "lane gpu is over by" in text
    assert runtime.state.value == "unconfigured"


@pytest.mark.usefixtures("heavy")
def test_a_switch_to_a_mode_the_critical_set_cannot_fit_is_refused(
        make_runtime: MakeRuntime, write: Write) -> None:
    runtime = make_runtime(write("set.yaml", CRITICAL_HEAVY.format(mode="40W")))
    runtime.configure()
    runtime.activate()
    runtime.run_for(0.5)
    with pytest.raises(UserError, match="does not fit power mode 15W"):
        runtime.set_power_mode("15W")
    runtime.run_for(0.5)
    assert runtime.status().power_mode == "40W"
    table = runtime.deactivate().to_dict()["pipelines"]["critical"]
    assert set(table) == {"40W"} and table["40W"]["deadline_misses"] == 0


@pytest.mark.usefixtures("heavy")
def test_the_cost_model_learns_per_mode_and_never_reuses_another_modes_figures(
        make_runtime: MakeRuntime, write: Write) -> None:
    runtime = make_runtime(write("set.yaml", WITH_VARIANT))
    runtime.configure()
    runtime.activate()
    runtime.run_for(2.0)
    runtime.set_power_mode("15W")
    runtime.run_for(2.0)
    runtime.deactivate()
    assert runtime.costs is not None
    at_40 = runtime.costs.cost(CostKey("tiny", "gpu", "40W"))
    at_15 = runtime.costs.cost(CostKey("tiny", "gpu", "15W"))
    assert at_40 is not None and at_15 is not None
    assert (at_40.source, at_15.source) == ("measured", "measured")
    assert at_15.mean_s > at_40.mean_s  # lower clocks, slower: each mode its own figures
    never_ran = runtime.costs.cost(CostKey("tiny", "gpu", "30W"))
    assert never_ran is not None and never_ran.source == "prior"


BATCHED = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
""" + "".join(f"""
      - name: cam{index}
        source: {{type: synthetic_camera, width: 320, height: 240, fps: 30, scene: multi,
                  seed: {300 + index}}}
        preprocess: {{resize: [120, 160]}}
        engine: {{recipe: detector.yaml, mock_outputs: onnxruntime}}
        postprocess: {{type: detection, conf_threshold: 0.25, iou_threshold: 0.45}}
        priority: high
""" for index in range(3))


def test_cameras_sharing_a_detector_run_in_batches_and_each_gets_its_own_outputs(
        make_runtime: MakeRuntime, write: Write) -> None:
    detector = REPO / "engines" / "models" / "shapes_detector.onnx"
    write("detector.yaml", f"onnx: {detector}\nprecision: fp32\nmax_batch: 4\n"
                           "mock: {price_as: ssd_mobilenet_v1}\n")
    runtime = make_runtime(write("set.yaml", BATCHED))
    runtime.configure()
    runtime.activate()
    runtime.run_for(1.0)
    summary = runtime.deactivate().to_dict()
    # the three cameras tick together, so every inference is one batch of three
    assert summary["batches"] == {"detector": {"40W": {"3": 30}}}
    for index in range(3):
        row = summary["pipelines"][f"cam{index}"]["40W"]
        assert row["frames"] == 30 and row["deadline_misses"] == 0
        # each camera's boxes are its own scene's: a mix-up would score near zero
        assert row["accuracy"] > 0.9, row


@pytest.mark.usefixtures("heavy")
def test_an_unknown_reference_network_is_one_line_at_the_recipe(make_runtime: MakeRuntime,
                                                                write: Write) -> None:
    write("heavy_dla.yaml", "onnx: heavy.onnx\nprecision: fp32\ntarget: {device: dla0}\n"
                            "mock: {price_as: yolo9000}\n")
    runtime = make_runtime(write("set.yaml", WITH_VARIANT))
    with pytest.raises(UserError) as raised:
        runtime.configure()
    text = str(raised.value)
    assert "heavy_dla.yaml" in text and "mock.price_as" in text and "yolo9000" in text
    assert "\n" not in text


@pytest.mark.usefixtures("heavy")
def test_run_times_that_drift_from_the_plan_make_a_new_plan(make_runtime: MakeRuntime,
                                                            write: Write) -> None:
    """The heavy engine turns out four times slower than planned (a module heating up, priors
    contention proved optimistic): within a review the best-effort pipeline is moved off the
    GPU it no longer fits, and the summary says why."""
    runtime = make_runtime(write("set.yaml", WITH_VARIANT))
    runtime.configure()
    runtime.activate()
    runtime.run_for(2.5)  # steady figures: no drift, no new plan
    assert runtime.status().pipelines["heavy"].lane == "gpu"
    assert runtime.costs is not None
    for _ in range(256):
        runtime.costs.observe(CostKey("heavy", "gpu", "40W"), 0.200)
    runtime.run_for(1.01)  # one review period of the session
    heavy = runtime.status().pipelines["heavy"]
    assert heavy.lane == "dla0" and heavy.reason is not None
    runtime.run_for(1.0)
    summary = runtime.deactivate().to_dict()
    assert len(summary["cost_replans"]) == 1
    assert re.fullmatch(r"40W: heavy@gpu batch 1 mean 19\d\.\d ms, planned with 4\d\.\d ms",
                        summary["cost_replans"][0])
    assert summary["pipelines"]["critical"]["40W"]["deadline_misses"] == 0


@pytest.mark.usefixtures("heavy")
def test_steady_run_times_never_replan(make_runtime: MakeRuntime, write: Write) -> None:
    """The simulated engines run as predicted, in either mode: many reviews, and no plan made
    again but the switch's own."""
    runtime = make_runtime(write("set.yaml", WITH_VARIANT))
    runtime.configure()
    runtime.activate()
    runtime.run_for(10.0)
    runtime.set_power_mode("15W")
    runtime.run_for(10.0)
    summary = runtime.deactivate().to_dict()
    assert summary["cost_replans"] == []
    assert set(summary["plans"]) == {"40W", "15W"}
