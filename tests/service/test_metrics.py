"""/metrics against the runtime's own status, on the simulated clock (exact, repeatable)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edge_runtime.service.metrics import registry_for
from tests.runtime.conftest import MakeRuntime

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(registry: object) -> Samples:
    text = generate_latest(registry).decode()  # type: ignore[arg-type]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counters_gauges_and_the_histogram_match_the_status(
        serve_set: Path, make_runtime: MakeRuntime, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runtime = make_runtime(serve_set)
    thermal = tmp_path / "sys/devices/virtual/thermal"
    for index, (zone, millideg) in enumerate([("cpu-thermal", "48500"), ("gpu-thermal", "-256000"),
                                              ("tj-thermal", "49125")]):
        (thermal / f"thermal_zone{index}").mkdir(parents=True)
        (thermal / f"thermal_zone{index}/type").write_text(zone + "\n")
        (thermal / f"thermal_zone{index}/temp").write_text(millideg + "\n")
    registry, histogram = registry_for(runtime, lambda: (True, False), thermal_root=tmp_path)
    runtime.subscribe(histogram.observe)
    runtime.configure()
    runtime.activate()
    runtime.run_for(5.0)
    status = runtime.status()
    samples = scrape(registry)
    for name, p in status.pipelines.items():
        label = (("pipeline", name),)
        assert samples[("edge_runtime_frames_total", label)] == p.frames > 0
        assert samples[("edge_runtime_deadline_misses_total", label)] == p.deadline_misses
        assert samples[("edge_runtime_drops_total", label)] == p.drops
        assert samples[("edge_runtime_achieved_hz", label)] == p.hz
        assert samples[("edge_runtime_latency_seconds_count", label)] == p.frames
        assert samples[("edge_runtime_pipeline_state", (("pipeline", name),
                                                        ("state", "running")))] == 1.0
        assert samples[("edge_runtime_degraded", label)] == float(p.reason is not None)
        assert samples[("edge_runtime_wanted_rate_hz", label)] == p.wanted_rate_hz
    assert samples[("edge_runtime_frames_total", (("pipeline", "critical"),))] == 100  # 20 Hz
    for lane, share in status.lanes.items():
        assert samples[("edge_runtime_lane_utilisation", (("lane", lane),))] == share
    assert samples[("edge_runtime_module_watts", (("source", "simulated"),))] == status.watts
    assert samples[("edge_runtime_temperature_celsius", (("zone", "cpu-thermal"),))] == 48.5
    assert ("edge_runtime_temperature_celsius", (("zone", "gpu-thermal"),)) not in samples
    assert (samples[("edge_runtime_alive", ())], samples[("edge_runtime_ready", ())]) == (1, 0)
    hits = {labels: v for (name, labels), v in samples.items()
            if name == "edge_runtime_engine_cache_hit"}
    assert len(hits) == 3 and set(hits.values()) == {0.0}  # a fresh cache: all built


def test_failures_are_counted_by_stage_and_kind(serve_set: Path, make_runtime: MakeRuntime,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runtime = make_runtime(serve_set)
    registry, _ = registry_for(runtime)
    runtime.configure()
    victim = runtime.pipelines["victim"]

    def broken(*args: object) -> object:
        raise ValueError("injected")

    victim.decode = broken  # type: ignore[method-assign,assignment]
    runtime.activate()
    runtime.run_for(1.0)
    samples = scrape(registry)
    key = ("edge_runtime_errors_total", (("kind", "ValueError"), ("pipeline", "victim"),
                                         ("stage", "decode")))
    assert samples[key] == sum(runtime.status().pipelines["victim"].errors.values()) > 0
