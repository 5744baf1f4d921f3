"""Prometheus metrics of a running :class:`~edge_runtime.runtime.runtime.Runtime`.

Counters, gauges and infos are read from one :meth:`Runtime.status` snapshot per scrape (a
custom collector: nothing is counted twice, and a scrape costs one status call), so they can
never drift from what the runtime itself reports. Latency is the one thing a snapshot cannot
give (it keeps only percentiles of recent frames): a histogram observes every output, fed by a
subscriber of the runtime's output bus (its own thread and queue, so a scrape never blocks a
lane).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from edge_runtime import __version__
from edge_runtime.pipelines.output import Output
from edge_runtime.power.telemetry import read_thermal_zones
from edge_runtime.runtime.runtime import Runtime
from edge_runtime.runtime.status import RuntimeStatus

PREFIX = "edge_runtime"
#: Latency buckets, seconds: sub-millisecond engines on an Orin up to a missed 100 ms frame.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.25, 0.5, 1.0)
#: Outputs the histogram's subscriber may fall behind by before it drops (and counts) some.
HISTOGRAM_QUEUE = 4096


class RuntimeCollector(Collector):
    """Everything in a status snapshot, as Prometheus families."""

    def __init__(self, runtime: Runtime, thermal_root: Path = Path("/"),
                 liveness: Callable[[], tuple[bool, bool]] | None = None) -> None:
        self.runtime = runtime
        self.thermal_root = thermal_root
        self.liveness = liveness

    def collect(self) -> Iterator[Metric]:
        status = self.runtime.status()
        yield from _pipeline_families(status)
        sampled = (status.telemetry or {}).get("temperatures_c") or {}
        yield from _module_families(status, self.runtime,
                                    {**read_thermal_zones(self.thermal_root), **sampled})
        if self.liveness is not None:
            alive, ready = self.liveness()
            yield GaugeMetricFamily(f"{PREFIX}_alive", "1 while the scheduler makes progress "
                                    "(what the systemd watchdog is pinged for)", value=alive)
            yield GaugeMetricFamily(f"{PREFIX}_ready", "1 while every pipeline that has not "
                                    "failed is running", value=ready)


def _pipeline_families(status: RuntimeStatus) -> Iterator[Metric]:
    labels = ["pipeline"]
    frames = CounterMetricFamily(f"{PREFIX}_frames", "Outputs produced", labels=labels)
    drops = CounterMetricFamily(f"{PREFIX}_drops", "Frames dropped (superseded, or waiting "
                                "when their pipeline stopped)", labels=labels)
    late = CounterMetricFamily(f"{PREFIX}_late_drops", "Frames dropped before running: they "
                               "could no longer meet their deadline", labels=labels)
    misses = CounterMetricFamily(f"{PREFIX}_deadline_misses", "Outputs done after their "
                                 "deadline", labels=labels)
    bad = CounterMetricFamily(f"{PREFIX}_bad_frames", "Frames the source could not decode "
                              "(skipped)", labels=labels)
    restarts = CounterMetricFamily(f"{PREFIX}_restarts", "Restarts after a pipeline failed",
                                   labels=labels)
    errors = CounterMetricFamily(f"{PREFIX}_errors", "Failed frames, by stage and kind",
                                 labels=["pipeline", "stage", "kind"])
    hz = GaugeMetricFamily(f"{PREFIX}_achieved_hz", "Outputs per second over the last two "
                           "seconds", labels=labels)
    rate = GaugeMetricFamily(f"{PREFIX}_rate_hz", "Processing rate the plan grants (absent: "
                             "free running, pushed or paused)", labels=labels)
    wanted = GaugeMetricFamily(f"{PREFIX}_wanted_rate_hz", "Processing rate asked for (absent: "
                               "free running or pushed)", labels=labels)
    degraded = GaugeMetricFamily(f"{PREFIX}_degraded", "1 while the plan gives the pipeline less "
                                 "than it asked for (another lane, a lower rate, paused)",
                                 labels=labels)
    state = GaugeMetricFamily(f"{PREFIX}_pipeline_state", "1 for the pipeline's current state",
                              labels=["pipeline", "state"])
    for name, p in status.pipelines.items():
        frames.add_metric([name], p.frames)
        drops.add_metric([name], p.drops)
        late.add_metric([name], p.late_drops)
        misses.add_metric([name], p.deadline_misses)
        bad.add_metric([name], p.bad_frames)
        restarts.add_metric([name], p.restarts)
        for key, count in p.errors.items():
            stage, _, kind = key.partition(":")
            errors.add_metric([name, stage.strip(), kind.strip() or stage.strip()], count)
        hz.add_metric([name], p.hz)
        if p.rate_hz is not None and p.state != "paused":
            rate.add_metric([name], p.rate_hz)
        if p.wanted_rate_hz is not None:
            wanted.add_metric([name], p.wanted_rate_hz)
        degraded.add_metric([name], float(p.reason is not None))
        for value in ("running", "disabled", "failed", "exhausted", "paused"):
            state.add_metric([name, value], float(p.state == value))
    yield from (frames, drops, late, misses, bad, restarts, errors, hz, rate, wanted, degraded,
                state)


def _module_families(status: RuntimeStatus, runtime: Runtime,
                     temperatures: dict[str, float]) -> Iterator[Metric]:
    lanes = GaugeMetricFamily(f"{PREFIX}_lane_utilisation", "Busy share of each lane in the "
                              "current power mode (0-1)", labels=["lane"])
    for lane, share in status.lanes.items():
        lanes.add_metric([lane], share)
    yield lanes
    mode = InfoMetricFamily(f"{PREFIX}_power_mode", "The module's current power mode")
    mode.add_metric([], {"mode": status.power_mode, "device": status.device})
    yield mode
    if status.watts is not None:
        source = "measured" if status.watts_measured else "simulated"
        watts = GaugeMetricFamily(f"{PREFIX}_module_watts", "Module power (simulated: the "
                                  "simulated Jetson's estimate from lane utilisation)",
                                  labels=["source"])
        watts.add_metric([source], status.watts)
        yield watts
    shedding = GaugeMetricFamily(f"{PREFIX}_power_shedding", "1 while the power governor sheds "
                                 "non-critical load (over budget or too hot)",
                                 value=float(status.shedding is not None))
    yield shedding
    temps = GaugeMetricFamily(f"{PREFIX}_temperature_celsius", "Thermal zones (this host's "
                              "sysfs, and the power device's samples: the simulated module's "
                              "tj-thermal)", labels=["zone"])
    for zone, celsius in temperatures.items():
        temps.add_metric([zone], celsius)
    yield temps
    hits = GaugeMetricFamily(f"{PREFIX}_engine_cache_hit", "1 if the pipeline's engine came "
                             "from the verified cache, 0 if it was built",
                             labels=["pipeline", "engine", "backend", "precision"])
    for info in runtime.all_engines:
        hits.add_metric([info.pipeline, info.engine, info.backend, info.precision],
                        float(info.cache_hit))
    yield hits
    build = InfoMetricFamily(f"{PREFIX}_build", "edge-runtime version")
    build.add_metric([], {"version": __version__})
    yield build


class LatencyHistogram:
    """Capture-to-output latency of every output, per pipeline."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(f"{PREFIX}_latency_seconds", "Capture to output latency",
                                   ["pipeline"], registry=registry, buckets=LATENCY_BUCKETS)

    def observe(self, output: Output) -> None:
        self.histogram.labels(output.pipeline).observe(output.latency_s)


def registry_for(runtime: Runtime, liveness: Callable[[], tuple[bool, bool]] | None = None,
                 thermal_root: Path = Path("/")) -> tuple[CollectorRegistry, LatencyHistogram]:
    """A registry of the runtime's metrics (its own, not the global default: two runtimes in
    one process, or tests, never share counters)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime, thermal_root, liveness))
    return registry, LatencyHistogram(registry)
