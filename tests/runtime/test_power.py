"""The power governor in the runtime, on the simulated clock and the simulated Jetson's thermal
model: a budget settles in the highest mode that fits it; an overheating module sheds
non-critical load before it changes mode, steps down, and recovers with hysteresis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge_runtime import Runtime, RuntimeOptions
from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.config.pipeline import DiagnosticsConfig
from edge_runtime.config.power import ThermalSpec
from edge_runtime.errors import UserError
from edge_runtime.runtime.health import POWER, HealthMonitor, Level
from edge_runtime.sim.jetson import SimulatedJetson
from tests.runtime.conftest import MakeRuntime, heavy_model

Write = Callable[[str, str], Path]

SET = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    power: {power}
    pipelines:
      - name: critical
        source: {{type: synthetic_camera, width: 32, height: 32, fps: {critical_fps}}}
        engine: heavy.yaml
        priority: critical
      - name: heavy
        source: {{type: synthetic_camera, width: 32, height: 32, fps: 10}}
        engine: heavy.yaml
        variants: [heavy_dla.yaml]
        priority: best_effort
"""
LIMIT_C, MARGIN_C = 80.0, 5.0
AUTO = f"{{auto: true, max_temp_c: {LIMIT_C:g}, hold_s: 2, recover_s: 10, margin_c: {MARGIN_C:g}}}"
#: Seconds of the thermal model's time constant: minutes of simulated time show what hours
#: would on a real module.
TAU_S = 15.0


@pytest.fixture(autouse=True)
def heavy(write: Write, tmp_path: Path) -> None:
    """heavy.yaml (the GPU; 15 W cannot carry the critical pipeline beside the rest) and the
    same model on DLA core 0."""
    heavy_model(tmp_path / "heavy.onnx", layers=10)
    write("heavy.yaml", "onnx: heavy.onnx\nprecision: fp32\n")
    write("heavy_dla.yaml", "onnx: heavy.onnx\nprecision: fp32\ntarget: {device: dla0}\n")


_CHOSEN: dict[str, int] = {}


@pytest.fixture
def set_text(make_runtime: MakeRuntime, write: Write) -> Callable[[str], str]:
    """The set's YAML with ``power:`` filled in, its critical rate chosen so that the set fits
    every mode from 30W up and not 15W (whatever the device model prices the engine at)."""
    if "fps" not in _CHOSEN:  # the same device model all session: probe once
        for fps in (4, 6, 8, 10, 12, 15, 20, 25, 30):
            probe = make_runtime(write(f"probe{fps}.yaml",
                                       SET.format(power="{}", critical_fps=fps)))
            probe.configure()
            fits = {o.mode: o.fits for o in probe.mode_options()}
            probe.shutdown()
            if not fits["15W"] and all(fit for mode, fit in fits.items() if mode != "15W"):
                _CHOSEN["fps"] = fps
                break
        else:
            raise AssertionError(f"no critical rate fits 30W up but not 15W: {fits}")
    fps = _CHOSEN["fps"]
    return lambda power: SET.format(power=power, critical_fps=fps)


@dataclass(frozen=True)
class Watts:
    """What the runtime predicts the set draws per mode, in full and shed."""

    full: dict[str, float]
    shed: dict[str, float]


def predicted(runtime: Runtime) -> Watts:
    full = {o.mode: o.watts for o in runtime.mode_options() if o.fits}
    shed = {mode: runtime.plan_watts(runtime.plan(mode, shed="test")) for mode in full}
    return Watts(full, shed)


@pytest.fixture
def hot_runtime(write: Write, tmp_path: Path, set_text: Callable[[str], str]
                ) -> Iterator[Callable[[str, Callable[[Watts], tuple[float, float]]], Runtime]]:
    """A configured runtime on a simulated module whose thermal model (ambient, resistance)
    is chosen from the set's predicted watts, so each scenario holds whatever the device
    model prices the engines at."""
    made: list[Runtime] = []

    def _make(power: str, thermal: Callable[[Watts], tuple[float, float]]) -> Runtime:
        loaded = load_pipeline_set(write("set.yaml", set_text(power)))
        probe = Runtime(loaded, clock="sim", options=RuntimeOptions(cache_dir=tmp_path / "c"))
        made.append(probe)
        probe.configure()
        ambient_c, resistance = thermal(predicted(probe))
        probe.shutdown()
        device = SimulatedJetson(loaded.profile, thermal=ThermalSpec(
            ambient_c=ambient_c, resistance_k_per_w=resistance,
            capacity_j_per_k=TAU_S / resistance))
        runtime = Runtime(loaded, clock="sim", device=device,
                          options=RuntimeOptions(cache_dir=tmp_path / "c"))
        made.append(runtime)
        runtime.configure()
        return runtime

    yield _make
    for runtime in made:
        if runtime.state.value != "finalized":
            runtime.shutdown()


def _steps(decisions: list[dict[str, Any]]) -> list[tuple[str, str | None, bool]]:
    return [(d["step"], d["mode"], d["applied"]) for d in decisions]


def test_a_budget_settles_in_the_highest_mode_that_fits_it(
        make_runtime: MakeRuntime, write: Write, set_text: Callable[[str], str]) -> None:
    """Every mode from 30W up carries the set, 15W does not: a budget just over a mode's
    predicted power settles in the highest such mode, and measured power stays within it."""
    probe = make_runtime(write("probe.yaml", set_text("{}")))
    probe.configure()
    options = probe.mode_options()
    assert [o.mode for o in options if not o.fits] == ["15W"]
    fitting = [o for o in options if o.fits]
    for target in fitting:
        budget = round(target.watts + 0.05, 2)
        expected = max((o for o in fitting if o.watts <= budget),
                       key=lambda o: (round(o.throughput_hz, 6), options.index(o)))
        runtime = make_runtime(write("set.yaml", set_text(f"{{budget_w: {budget}}}")))
        runtime.configure()
        runtime.activate()
        runtime.run_for(20.0)
        status = runtime.status()
        assert status.power_mode == expected.mode
        choice = status.governor[0]
        assert (choice["step"], choice["mode"]) == ("choose", expected.mode)
        assert f"the most within the {budget:g} W budget" in choice["reason"]
        assert status.telemetry is not None and status.telemetry["module_w"] <= budget + 0.5
        summary = runtime.deactivate().to_dict()
        assert summary["pipelines"]["critical"][expected.mode]["deadline_misses"] == 0
    # the highest mode whose prediction fits wins even over lower ones with the same frames
    top = max(fitting, key=lambda o: o.watts)
    assert expected.mode == top.mode or expected.watts <= top.watts


def test_an_overheating_module_sheds_load_before_it_changes_mode_and_recovers(
        hot_runtime: Callable[[str, Callable[[Watts], tuple[float, float]]], Runtime]) -> None:
    """Full load settles 4 °C over the limit, shed load 8 °C under it: the governor sheds,
    the module cools, the load comes back only after 10 s under the margin, heats again: a
    slow cycle, never a mode change, the critical pipeline untouched."""
    def thermal(watts: Watts) -> tuple[float, float]:
        resistance = 12.0 / (watts.full["40W"] - watts.shed["40W"])
        return LIMIT_C + 4.0 - resistance * watts.full["40W"], resistance

    runtime = hot_runtime(AUTO, thermal)
    runtime.activate()
    runtime.run_for(150.0)
    summary = runtime.deactivate().to_dict()
    decisions = summary["governor"]
    assert [d["step"] for d in decisions[:4]] == ["shed", "restore", "shed", "restore"]
    assert all(d["applied"] and d["mode"] is None for d in decisions)
    shed, restore = decisions[0], decisions[1]
    assert f"over {LIMIT_C:g} °C" in shed["reason"]
    assert restore["at_s"] - shed["at_s"] >= 10.0  # hysteresis: the recovery hold
    assert set(summary["pipelines"]["critical"]) == {"40W"}
    assert summary["pipelines"]["critical"]["40W"]["deadline_misses"] == 0


def test_when_shedding_is_not_enough_it_steps_down_to_the_lowest_mode_that_fits(
        hot_runtime: Callable[[str, Callable[[Watts], tuple[float, float]]], Runtime]) -> None:
    """Even shed, every mode the set fits settles over the limit: shed, step down to 30W,
    and 15W (which the critical pipeline does not fit) refused once."""
    def thermal(watts: Watts) -> tuple[float, float]:
        return LIMIT_C + 3.0 - 3.0 * min(watts.shed.values()), 3.0

    runtime = hot_runtime(AUTO, thermal)
    runtime.activate()
    runtime.run_for(60.0)
    status = runtime.status()
    assert status.power_mode == "30W" and status.shedding is not None
    assert status.pipelines["heavy"].state == "paused"
    assert _steps(status.governor) == [("shed", None, True), ("step_down", "30W", True),
                                       ("step_down", "15W", False)]
    power = next(r for r in HealthMonitor(DiagnosticsConfig()).report(status)
                 if r.name == POWER)
    assert power.level is Level.WARN and "shedding non-critical load" in power.message
    assert float(power.values["temperature_tj-thermal_c"]) > LIMIT_C
    summary = runtime.deactivate().to_dict()
    assert summary["pipelines"]["critical"]["30W"]["deadline_misses"] == 0
    assert summary["refused_switches"] and summary["refused_switches"][0].startswith("15W")


def test_without_a_governor_the_module_is_only_watched(
        hot_runtime: Callable[[str, Callable[[Watts], tuple[float, float]]], Runtime]) -> None:
    runtime = hot_runtime("{mode: 40W}", lambda w: (LIMIT_C + 10.0 - 3.0 * w.full["40W"], 3.0))
    runtime.activate()
    runtime.run_for(60.0)  # four time constants: within 2 % of the settled temperature
    status = runtime.status()
    assert status.power_mode == "40W" and status.governor == []
    assert status.telemetry is not None and status.telemetry["source"] == "simulated"
    assert status.telemetry["temperatures_c"]["tj-thermal"] > LIMIT_C + 9.0


@pytest.mark.parametrize(("power", "says"), [
    ("{mode: 30W, budget_w: 20}", "power: mode fixes the power mode"),
    ("{auto: true, hold_s: 5, recover_s: 1}", "power: recover_s must be at least hold_s"),
    ("{budget_w: -3}", "power.budget_w"),
])
def test_a_contradictory_power_policy_is_one_line_naming_the_key(
        write: Write, power: str, says: str) -> None:
    with pytest.raises(UserError) as raised:
        load_pipeline_set(write("set.yaml", SET.format(power=power, critical_fps=6)))
    text = str(raised.value)
    assert "set.yaml" in text and says in text and "\n" not in text
