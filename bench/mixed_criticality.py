"""Mixed criticality on this CPU: the runtime's scheduler against one thread per pipeline.

Three robot pipelines share this host's two cores through real onnxruntime CPU sessions of the
simulator's reference networks (:mod:`edge_runtime.sim.reference_models`, the real graphs with
synthetic weights filled in at a fixed seed; outputs are the raw head tensors, no decoding):

* **critical**: SSD-MobileNetV1 300x300, the front obstacle detector;
* **high**: ResNet-50 224x224, a scene / terrain classifier;
* **best_effort**: SSD-MobileNetV1 300x300 on a second (rear) camera.

Each model's inference time is measured at the start (median of ``session.run`` calls alone,
with the runtime's session options: two intra-op threads, one inference stream on both cores).
So is each camera frame's preprocessing (resize, scale, NCHW float32; the same code on every
side). The rates (whole Hz) are set so that the CPU demand, the sum of rate x core-seconds per
frame (inference on both cores plus preprocessing on one) over the cores, is ``--load`` (90 %)
of the machine, split 30 / 40 / 20 % between critical, high and best effort. Counting the
preprocessing matters: left out, it put the set past 100 % of the cores, which no scheduler can
serve. Every pipeline's deadline is one period of its own rate, capture to output. Cameras are
640x480.

Three ways of running them, on the same models and frames:

* **ours**: the three pipelines through :class:`~edge_runtime.Runtime` on the wall clock with
  the onnxruntime backend and ``RuntimeOptions(cpu_threads=2)``: one ``cpu`` lane running one
  inference at a time on both cores, ordered by class then earliest deadline, with deadline
  protection for higher classes and drop-before-run for frames that can no longer make it.
* **naive**: what users write today: ``ort.InferenceSession(path)`` with onnxruntime's
  *default* session options (intra-op threads = cores, spinning workers), one session and one
  Python thread per pipeline that waits for its next frame time, preprocesses and calls
  ``run`` freely; the threads' sessions run concurrently. A thread that finishes late takes the
  newest frame (as a camera hands it out), so the frames in between never run. **The targets
  are judged against this side.**
* **naive1**: the same, every session with ``intra_op_num_threads = 1`` (one core per call, no
  oversubscription): a better-informed user's variant, reported for transparency.

Frames are fixed: each pipeline replays an .npz of rendered scenes (fixed seeds); frame ``k``
is captured at ``k / rate`` seconds after the start on every side, and its deadline is its
capture time plus the pipeline's deadline. A frame is **useful** when its output was there by
its deadline. Per pipeline and side: frames due in the measured window, useful frames/s,
deadline-miss % (due minus useful, over due: a frame dropped, skipped or never run counts as a
miss), p50/p99 capture-to-output latency of the frames that ran. The sides run in turn for
``--rounds`` rounds (ours, naive, naive1, ours, ...) so machine noise hits each; medians are
reported, with the CPU that other processes took during each run. Targets: critical misses
<= 0.1 % for ours where naive misses >= 5 %, and our total useful throughput >= naive's.

Process-wide settings that the runtime applies while active (a 0.5 ms thread switch interval,
a frozen garbage collector) are its own; the naive sides run with Python's defaults, as a
user's script would. Both are recorded.

    python -m bench.mixed_criticality [--seconds 60] [--rounds 3] [--load 0.9]

Writes ``bench/results/mixed_criticality.json`` (and ``mixed_criticality.png`` when matplotlib
is present).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from bench.plotting import pyplot
from edge_runtime import Output, Runtime, RuntimeOptions, __version__
from edge_runtime.config.recipe import BackendName
from edge_runtime.config.stages import PreprocessConfig
from edge_runtime.engines.backends.onnxrt import make_session
from edge_runtime.fileio import atomic_write_text
from edge_runtime.pipelines.preprocess import preprocess_frame
from edge_runtime.scheduler.costs import CostKey
from edge_runtime.sim.reference_models import reference_model
from edge_runtime.synthetic import SceneGenerator, SceneKind

RESULTS = Path(__file__).resolve().parent / "results"
#: Rendered frames per camera (replayed in a loop) and the camera size.
FRAMES = 48
CAMERA = (640, 480)
#: Intra-op threads of the runtime's sessions: one inference stream on both cores.
OUR_THREADS = 2
#: The cores the demand is a share of.
CORES = os.cpu_count() or OUR_THREADS
#: Seconds each side runs before the measured window opens (first frames, learned run times).
WARMUP_S = 1.5
#: Seconds each side runs on after the window closes beyond the longest deadline, so the
#: window's last frames compete as the others did.
TAIL_S = 0.2
#: ``session.run`` calls timed per model and session kind (after a few warm-up calls).
TIMED_RUNS = 40
TARGET_CRITICAL_MISS_PCT = 0.1
TARGET_NAIVE_MISS_PCT = 5.0
SIDES = ("ours", "naive", "naive1")
LABELS = {"ours": "edge-runtime (one cpu lane, 2 threads)",
          "naive": "thread per pipeline, default sessions",
          "naive1": "thread per pipeline, 1 thread each"}


@dataclass(frozen=True)
class Model:
    """A reference network, run at its own input size."""

    reference: str
    resize: tuple[int, int]


MODELS = {
    "ssd_mobilenet_v1": Model("ssd_mobilenet_v1", (300, 300)),
    "resnet50": Model("resnet50", (224, 224)),
}


@dataclass(frozen=True)
class Stream:
    """One pipeline of the set: its model, class, camera seed and share of the load."""

    name: str
    model: str
    priority: str
    seed: int
    share: float


STREAMS = (
    Stream("critical", "ssd_mobilenet_v1", "critical", 101, 0.30),
    Stream("high", "resnet50", "high", 202, 0.40),
    Stream("best_effort", "ssd_mobilenet_v1", "best_effort", 303, 0.20),
)


@dataclass(frozen=True)
class Planned:
    """A stream with its rate and deadline derived from the measured inference time."""

    stream: Stream
    rate_hz: float
    deadline_s: float
    frames: Path
    images: list[np.ndarray[Any, Any]]

    @property
    def model(self) -> Model:
        return MODELS[self.stream.model]


RECIPE = "onnx: {onnx}\nprecision: fp32\n"
PIPELINE = """
  - name: {name}
    source: {{type: numpy, path: {frames}, fps: {rate}}}
    preprocess: {{resize: [{height}, {width}]}}
    engine: {recipe}
    rate_hz: {rate}
    priority: {priority}
    deadline_ms: {deadline_ms}
    queue_depth: 1
"""

#: Measured seconds per run: a miss rate of 0.1 % is only resolved with well over 1000 critical
#: frames per run (at 27 Hz, 20 s are 540 frames, and one miss is already 0.19 %).
SECONDS = 60.0
#: (frame index, capture time, output time) per finished frame, seconds since the start.
Record = tuple[int, float, float]


# --- models --------------------------------------------------------------------------------------


def materialise(name: str, seed: int = 0) -> onnx.ModelProto:
    """The reference graph with values for its declared-only weights: He-normal convolution
    and classifier weights, zero biases (fixed seed), so onnxruntime can run it."""
    model = onnx.ModelProto()
    model.CopyFrom(reference_model(name))
    rng = np.random.default_rng(seed)
    for tensor in model.graph.initializer:
        if tensor.raw_data or tensor.float_data:  # resize scales carry their values
            continue
        dims = [int(d) for d in tensor.dims]
        if len(dims) > 1:
            fan_in = int(np.prod(dims[1:]))
            values = rng.normal(0.0, math.sqrt(2.0 / fan_in), dims).astype(np.float32)
        else:
            values = np.zeros(dims, np.float32)
        tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    return model


def write_models(work: Path) -> dict[str, tuple[Path, Path]]:
    """(ONNX, recipe) per model, under ``work``."""
    paths = {}
    for name, model in MODELS.items():
        onnx_path, recipe = work / f"{name}.onnx", work / f"{name}.yaml"
        onnx.save(materialise(model.reference), str(onnx_path))
        recipe.write_text(RECIPE.format(onnx=onnx_path))
        paths[name] = (onnx_path, recipe)
    return paths


def naive_session(path: Path, threads: int | None) -> ort.InferenceSession:
    """What a user writes: default session options, or only the intra-op thread count set."""
    if threads is None:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _median_run_s(runner: Any, tensor: np.ndarray[Any, Any], runs: int) -> float:
    for _ in range(3):
        runner.run(None, {"input": tensor})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        runner.run(None, {"input": tensor})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def inference_times(paths: dict[str, tuple[Path, Path]],
                    image: np.ndarray[Any, Any]) -> dict[str, dict[str, float]]:
    """Median seconds of ``TIMED_RUNS`` ``session.run`` calls per model, alone, with the
    runtime's session options (what the rates are set from) and, for the record, with the
    naive sides' ones; and the median preprocessing time of a camera frame to its input."""
    times: dict[str, dict[str, float]] = {}
    for name, (path, _) in paths.items():
        config = PreprocessConfig(resize=MODELS[name].resize)
        tensor = preprocess_frame(image, config)
        kinds: dict[str, Any] = {
            "ours": make_session(path.read_bytes(), ["CPUExecutionProvider"], OUR_THREADS),
            "naive": naive_session(path, None), "naive1": naive_session(path, 1)}
        times[name] = {kind: _median_run_s(runner, tensor, TIMED_RUNS)
                       for kind, runner in kinds.items()}
        started = time.perf_counter()
        for _ in range(20):
            preprocess_frame(image, config)
        times[name]["preprocess"] = (time.perf_counter() - started) / 20
    return times


def frame_cpu_s(times: dict[str, float]) -> float:
    """Core-seconds one frame of a model takes: its inference on ``OUR_THREADS`` cores plus its
    preprocessing on one (``times`` is a model's row of :func:`inference_times`)."""
    return OUR_THREADS * times["ours"] + times["preprocess"]


def plan(streams: tuple[Stream, ...], times: dict[str, dict[str, float]], load: float,
         work: Path) -> list[Planned]:
    """Rates (whole Hz) so that the CPU demand, sum(rate x core-seconds per frame) over the
    cores, is ~ ``load``; deadline = one period; the camera frames rendered once and saved
    for the runtime's numpy sources."""
    total = sum(s.share for s in streams)
    planned = []
    for stream in streams:
        rate = float(max(1, round(load * stream.share / total * CORES
                                  / frame_cpu_s(times[stream.model]))))
        generator = SceneGenerator(*CAMERA, SceneKind.MULTI, seed=stream.seed)
        images = [generator.render(i).image for i in range(FRAMES)]
        path = work / f"{stream.name}.npz"
        np.savez(path, frames=np.stack(images))
        planned.append(Planned(stream, rate, 1.0 / rate, path, images))
    return planned


def pipeline_set(planned: list[Planned], recipes: dict[str, Path], path: Path) -> Path:
    body = "".join(PIPELINE.format(
        name=p.stream.name, frames=p.frames, rate=p.rate_hz, height=p.model.resize[0],
        width=p.model.resize[1], recipe=recipes[p.stream.model], priority=p.stream.priority,
        deadline_ms=round(p.deadline_s * 1e3, 6)) for p in planned)
    path.write_text(f"pipelines:{body}")
    return path


# --- the sides -----------------------------------------------------------------------------------


def run_ours(runtime: Runtime, planned: list[Planned], seconds: float) -> dict[str, Any]:
    """One activation of the configured runtime; every output recorded by a subscriber."""
    records: dict[str, list[Record]] = {p.stream.name: [] for p in planned}

    def collect(output: Output) -> None:
        records[output.pipeline].append(
            (output.frame_index, output.capture_time, output.done_time))

    subscription = runtime.subscribe(collect, queue_size=8192)
    runtime.activate()
    _sleep_until_runtime(runtime, WARMUP_S)
    first = runtime.status()
    _sleep_until_runtime(runtime, WARMUP_S + seconds)
    last = runtime.status()
    learned = _learned_run_ms(runtime)
    costs = _lane_costs_ms(runtime, last.power_mode)
    _sleep_until_runtime(runtime, WARMUP_S + seconds + _tail_s(planned))
    summary = runtime.deactivate()
    runtime.unsubscribe(subscription)
    counters = {name: {key: getattr(row, key) - getattr(first.pipelines[name], key)
                       for key in ("frames", "deadline_misses", "drops", "late_drops")}
                | {"errors": row.errors, "rate_hz": row.rate_hz,
                   "wanted_rate_hz": row.wanted_rate_hz, "plan_reason": row.reason}
                for name, row in last.pipelines.items()}
    return {
        "records": records,
        "runtime_counters_in_window": counters,
        "subscriber_dropped": subscription.dropped,
        "cpu_lane_utilisation": round(last.lanes.get("cpu", 0.0), 4),
        "loop_lateness_ms": summary.loop_lateness_ms,
        "cost_replans": summary.cost_replans,
        "scheduler_expected_run_ms_at_window_end": learned,
        "lane_run_ms_at_window_end": costs,
    }


def _tail_s(planned: list[Planned]) -> float:
    return max(p.deadline_s for p in planned) + TAIL_S


def _learned_run_ms(runtime: Runtime) -> dict[str, float | None] | None:
    """The run time the scheduler expects of each pipeline now (what deadline protection and
    drop-before-run use; learned from completions). A diagnostic that reads the session's
    scheduler, which is no public API: None if it is not where this looks."""
    scheduler: Any = getattr(getattr(runtime, "_session", None), "scheduler", None)
    if scheduler is None:
        return None
    try:
        return {name: round(value * 1e3, 3) if (value := scheduler.expected_run_s(name))
                is not None else None for name in scheduler.pipelines}
    except Exception:  # another scheduler's shape: skip the diagnostic, keep the benchmark
        return None


def _lane_costs_ms(runtime: Runtime, mode: str) -> dict[str, dict[str, float]] | None:
    """Mean and 95th percentile of each engine's recent run times on its lane, from the
    runtime's cost model (what admission plans with): how far real runs stray from the mean
    that deadline protection reserves. None if the model is not where this looks."""
    try:
        rows = {}
        for pipeline in runtime.pipelines.values():
            runner: Any = pipeline.runner
            cost = runtime.costs.cost(CostKey(runner.name, runner.lane, mode)) \
                if runtime.costs is not None else None
            if cost is not None:
                rows[str(runner.name)] = {"mean": round(cost.mean_s * 1e3, 3),
                                          "p95": round(cost.p95_s * 1e3, 3),
                                          "samples": cost.samples}
        return rows
    except Exception:  # another runtime's shape: skip the diagnostic, keep the benchmark
        return None


def _sleep_until_runtime(runtime: Runtime, at: float) -> None:
    """Sleep until the runtime's clock (seconds since activation) reads ``at``."""
    while (left := at - runtime.status().now) > 0:
        time.sleep(min(left, 0.5))


def run_naive(planned: list[Planned], sessions: dict[str, ort.InferenceSession],
              seconds: float, switch_interval_s: float | None = None) -> dict[str, Any]:
    """One thread per pipeline, each calling its own session whenever its frame is due
    (under Python's thread switch interval unless ``switch_interval_s`` is given)."""
    records: dict[str, list[Record]] = {p.stream.name: [] for p in planned}
    run_s: dict[str, list[float]] = {p.stream.name: [] for p in planned}
    end = WARMUP_S + seconds + _tail_s(planned)
    origin = time.monotonic() + 0.05  # every thread started before the first frame

    def worker(p: Planned) -> None:
        runner = sessions[p.stream.name]
        config = PreprocessConfig(resize=p.model.resize)
        out, ran = records[p.stream.name], run_s[p.stream.name]
        k = 0
        while (capture := k / p.rate_hz) < end:
            delay = origin + capture - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            tensor = preprocess_frame(p.images[k % len(p.images)], config)
            started = time.perf_counter()
            runner.run(None, {"input": tensor})
            ran.append(time.perf_counter() - started)
            done = time.monotonic() - origin
            out.append((k, capture, done))
            # the next frame, or the newest one the camera has if this one finished late
            k = max(k + 1, math.floor(done * p.rate_hz + 1e-9))

    threads = [threading.Thread(target=worker, args=(p,), name=f"naive-{p.stream.name}")
               for p in planned]
    default = sys.getswitchinterval()
    if switch_interval_s is not None:
        sys.setswitchinterval(switch_interval_s)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(default)
    return {"records": records,
            "session_run_ms_median": {name: round(statistics.median(v) * 1e3, 3)
                                      for name, v in run_s.items() if v}}


# --- scoring -------------------------------------------------------------------------------------


def score(planned: list[Planned], records: dict[str, list[Record]],
          seconds: float) -> dict[str, Any]:
    """Per pipeline, over the frames captured in [WARMUP_S, WARMUP_S + seconds)."""
    pipelines: dict[str, Any] = {}
    for p in planned:
        first = math.ceil(WARMUP_S * p.rate_hz - 1e-9)
        last = math.ceil((WARMUP_S + seconds) * p.rate_hz - 1e-9)
        due = last - first
        done = [r for r in records[p.stream.name] if first <= r[0] < last]
        latencies = sorted(r[2] - r[1] for r in done)
        useful = sum(1 for r in done if r[2] <= r[1] + p.deadline_s)
        pipelines[p.stream.name] = {
            "due": due,
            "ran": len(done),
            "useful": useful,
            "never_ran": due - len(done),
            "late": len(done) - useful,
            "miss_pct": round(100.0 * (due - useful) / due, 3),
            "useful_fps": round(useful / seconds, 2),
            "p50_ms": _percentile_ms(latencies, 0.50),
            "p99_ms": _percentile_ms(latencies, 0.99),
        }
    return {"pipelines": pipelines,
            "useful_fps_total": round(sum(r["useful_fps"] for r in pipelines.values()), 2)}


def _percentile_ms(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1e3, 3)


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of every figure of :func:`score`."""
    names = rounds[0]["pipelines"]
    keys = ("miss_pct", "useful_fps", "p50_ms", "p99_ms", "due", "useful", "never_ran", "late")
    return {
        "pipelines": {name: {key: _median([r["pipelines"][name][key] for r in rounds])
                             for key in keys} for name in names},
        "useful_fps_total": _median([r["useful_fps_total"] for r in rounds]),
    }


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def _ratio(ours: float | None, other: float | None) -> float | None:
    return round(ours / other, 3) if ours is not None and other else None


# --- main ----------------------------------------------------------------------------------------


def _cpu_seconds() -> tuple[float, float, float] | None:
    """(wall clock, CPU seconds busy on the whole machine, CPU seconds of this process), to
    tell how much of the two cores other processes took during a run (Linux only)."""
    try:
        with Path("/proc/stat").open() as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    own = os.times()
    return (time.monotonic(), (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"),
            own.user + own.system)


def _cores(before: tuple[float, float, float] | None,
           after: tuple[float, float, float] | None) -> dict[str, float | None]:
    """Cores busy on average between two readings: this process's, and other processes'."""
    if before is None or after is None or after[0] <= before[0]:
        return {"own_cpu_cores": None, "other_processes_cpu_cores": None}
    wall = after[0] - before[0]
    own = after[2] - before[2]
    return {"own_cpu_cores": round(own / wall, 3),
            "other_processes_cpu_cores": round(max((after[1] - before[1]) - own, 0.0) / wall,
                                               3)}


def measure(seconds: float, rounds: int, load: float,
            naive_switch_interval_s: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        paths = write_models(work)
        probe = SceneGenerator(*CAMERA, SceneKind.MULTI, seed=1).render(0).image
        before = _cpu_seconds()
        measured = inference_times(paths, probe)
        calibration_cores = _cores(before, _cpu_seconds())
        times = {name: kinds["ours"] for name, kinds in measured.items()}
        print("inference alone (median ms; ours = 2 threads, naive = default, naive1 = 1 "
              "thread; preprocess): " + "; ".join(
                  f"{name} " + ", ".join(f"{kind} {t * 1e3:.2f}" for kind, t in kinds.items())
                  for name, kinds in measured.items())
              + f"; other processes {calibration_cores['other_processes_cpu_cores']} cores",
              flush=True)
        planned = plan(STREAMS, measured, load, work)
        demand = sum(p.rate_hz * times[p.stream.model] for p in planned)
        cpu_demand = sum(p.rate_hz * frame_cpu_s(measured[p.stream.model])
                         for p in planned) / CORES
        print("rates: " + ", ".join(f"{p.stream.name} {p.model.reference} {p.rate_hz:g} Hz "
                                    f"(deadline {p.deadline_s * 1e3:.1f} ms)" for p in planned)
              + f"; CPU demand {cpu_demand:.3f} of {CORES} cores (inference "
              f"{demand:.3f} of one stream)", flush=True)
        recipes = {name: recipe for name, (_, recipe) in paths.items()}
        runtime = Runtime(pipeline_set(planned, recipes, work / "mixed.yaml"), clock="wall",
                          options=RuntimeOptions(backend=BackendName.ONNXRUNTIME,
                                                 cpu_threads=OUR_THREADS,
                                                 cache_dir=work / "cache"))
        runtime.configure()
        lanes = sorted({engine.lane for engine in runtime.engines})
        warmup_ms = {name: round(engine.expected_run_s * 1e3, 3)
                     for name, engine in (runtime.engine_set.engines.items()
                                          if runtime.engine_set is not None else ())}
        naive_sessions = {
            side: {p.stream.name: naive_session(paths[p.stream.model][0], threads)
                   for p in planned}
            for side, threads in (("naive", None), ("naive1", 1))}
        for sessions in naive_sessions.values():  # warm them as the runtime warms its engines
            for p in planned:
                tensor = preprocess_frame(p.images[0], PreprocessConfig(resize=p.model.resize))
                for _ in range(5):
                    sessions[p.stream.name].run(None, {"input": tensor})
        scored: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        extras: list[dict[str, Any]] = []
        runs: dict[str, Callable[[], dict[str, Any]]] = {
            "ours": lambda: run_ours(runtime, planned, seconds),
            "naive": lambda: run_naive(planned, naive_sessions["naive"], seconds,
                                       naive_switch_interval_s),
            "naive1": lambda: run_naive(planned, naive_sessions["naive1"], seconds,
                                        naive_switch_interval_s)}
        for index in range(rounds):
            for side in SIDES:
                before = _cpu_seconds()
                raw = runs[side]()
                raw.update(_cores(before, _cpu_seconds()))
                result = score(planned, raw.pop("records"), seconds)
                scored[side].append(result)
                extras.append({"round": index + 1, "side": side, **raw})
                critical = result["pipelines"]["critical"]
                print(f"round {index + 1}/{rounds} {side:6}: critical miss "
                      f"{critical['miss_pct']:.3f} % (p99 {critical['p99_ms']} ms), useful "
                      f"{result['useful_fps_total']:.1f} frames/s ("
                      + ", ".join(f"{n} {r['useful_fps']:.1f} miss {r['miss_pct']:.1f} %"
                                  for n, r in result["pipelines"].items())
                      + f"); own {raw['own_cpu_cores']} cores, other processes "
                      f"{raw['other_processes_cpu_cores']} cores", flush=True)
                for name, row in raw.get("runtime_counters_in_window", {}).items():
                    if row["plan_reason"]:
                        print(f"  plan: {name} {row['plan_reason']}", flush=True)
        runtime.shutdown()
    summary = {side: medians(scored[side]) for side in SIDES}
    critical = {side: summary[side]["pipelines"]["critical"]["miss_pct"] for side in SIDES}
    ratio = _ratio(summary["ours"]["useful_fps_total"], summary["naive"]["useful_fps_total"])
    others = [e["other_processes_cpu_cores"] for e in extras
              if e["other_processes_cpu_cores"] is not None]
    return {
        "models": {name: {"reference": model.reference, "input": [1, 3, *model.resize],
                          "weights": "synthetic (He-normal, seed 0): timing only"}
                   for name, model in MODELS.items()},
        "inference_ms_alone": {name: {kind: round(t * 1e3, 3) for kind, t in kinds.items()}
                               for name, kinds in measured.items()},
        "calibration_cpu": calibration_cores,
        "load_asked": load,
        "cpu_demand_of_capacity": round(cpu_demand, 4),
        "inference_demand_of_one_stream": round(demand, 4),
        "lanes": lanes,
        "runtime_warmup_estimate_ms": warmup_ms,
        "pipelines": {p.stream.name: {"model": p.stream.model, "priority": p.stream.priority,
                                      "rate_hz": p.rate_hz,
                                      "deadline_ms": round(p.deadline_s * 1e3, 3),
                                      "inference_share": round(
                                          p.rate_hz * times[p.stream.model], 4)}
                      for p in planned},
        **summary,
        # what the runtime's planner granted each pipeline at activation (last round)
        "ours_plan": next(({name: {"rate_hz": row["rate_hz"], "reason": row["plan_reason"]}
                            for name, row in e["runtime_counters_in_window"].items()}
                           for e in reversed(extras) if e["side"] == "ours"), None),
        "targets_judged_against": "naive (default session options)",
        "ratio_useful_fps_ours_over_naive": ratio,
        "ratio_useful_fps_ours_over_naive1": _ratio(summary["ours"]["useful_fps_total"],
                                                    summary["naive1"]["useful_fps_total"]),
        "ratio_useful_fps_per_pipeline": {
            other: {name: _ratio(row["useful_fps"],
                                 summary[other]["pipelines"][name]["useful_fps"])
                    for name, row in summary["ours"]["pipelines"].items()}
            for other in ("naive", "naive1")},
        "targets": {
            "critical_miss_pct": critical,
            "ours_critical_at_most_0.1_pct": critical["ours"] is not None
            and critical["ours"] <= TARGET_CRITICAL_MISS_PCT,
            "naive_critical_at_least_5_pct": critical["naive"] is not None
            and critical["naive"] >= TARGET_NAIVE_MISS_PCT,
            "useful_fps_ours_at_least_naive": ratio is not None and ratio >= 1.0,
        },
        # the machine is shared: CPU that other processes took during any run, in cores
        # (of 2); over ~0.25 the figures measure the neighbours as much as the runners
        "max_other_processes_cpu_cores": max(others, default=None),
        "rounds": scored,
        "round_details": extras,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help="measured seconds per run (default: enough critical frames to "
                             "resolve the 0.1 %% target)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load", type=float, default=0.9,
                        help="CPU demand (inference and preprocessing) as a share of the "
                             "cores")
    parser.add_argument("--naive-switch-interval", type=float, default=None, metavar="S",
                        help="a sensitivity check: run the naive threads under this thread "
                             "switch interval (default: Python's, as a user's script would)")
    parser.add_argument("--out", type=Path, default=RESULTS / "mixed_criticality.json")
    args = parser.parse_args()
    default_switch_interval = sys.getswitchinterval()
    load_before = os.getloadavg()
    started = time.monotonic()
    measured = measure(args.seconds, args.rounds, args.load, args.naive_switch_interval)
    load_after = os.getloadavg()
    result = {
        "benchmark": "mixed_criticality",
        "command": "python -m bench.mixed_criticality " + " ".join(sys.argv[1:]),
        "our_cpu_threads": OUR_THREADS,
        "camera": list(CAMERA),
        "seconds_per_run": args.seconds,
        "warmup_s": WARMUP_S,
        "rounds": args.rounds,
        "switch_interval_s": {"ours": RuntimeOptions().switch_interval_s,
                              "naive": args.naive_switch_interval or default_switch_interval},
        **measured,
        "wall_s": round(time.monotonic() - started, 1),
        "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                    "machine": platform.machine(), "cores": os.cpu_count(),
                    # other processes compete for the same two cores: 1/5/15-min load averages
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in load_after]},
        "versions": {"edge_runtime": __version__, "onnxruntime": ort.__version__,
                     "edge_runtime_source": _source_revision()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({"targets": result["targets"],
                      "useful_fps_total": {side: result[side]["useful_fps_total"]
                                           for side in SIDES},
                      "ratio_over_naive": result["ratio_useful_fps_ours_over_naive"],
                      "ratio_over_naive1": result["ratio_useful_fps_ours_over_naive1"]}))
    plot(result, args.out.with_suffix(".png"))


def _source_revision() -> str | None:
    """The git commit of the edge_runtime being measured, "+dirty" if its files differ."""
    import edge_runtime

    root = Path(edge_runtime.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "edge_runtime"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    names = list(result["pipelines"])
    figure, (misses, useful) = plt.subplots(1, 2, figsize=(10, 4))
    positions = range(len(names))
    colours = {"naive": "tab:orange", "naive1": "tab:olive", "ours": "tab:blue"}
    for offset, side in zip((-0.27, 0.0, 0.27), ("naive", "naive1", "ours"), strict=True):
        rows = result[side]["pipelines"]
        bars = misses.bar([p + offset for p in positions],
                          [rows[n]["miss_pct"] for n in names], 0.27, color=colours[side],
                          label=LABELS[side])
        misses.bar_label(bars, fmt="%.1f", fontsize="x-small")
        useful.bar([p + offset for p in positions], [rows[n]["useful_fps"] for n in names],
                   0.27, color=colours[side],
                   label=f"{side}: {result[side]['useful_fps_total']:.1f} total")
    ticks = [f"{n}\n{result['pipelines'][n]['model']}\n{result['pipelines'][n]['rate_hz']:g} Hz"
             for n in names]
    misses.set_xticks(list(positions), ticks, fontsize="small")
    misses.set_ylabel("deadline misses (% of frames due)")
    misses.axhline(TARGET_CRITICAL_MISS_PCT, color="tab:gray", linewidth=0.8, linestyle=":")
    misses.legend(fontsize="x-small")
    useful.set_xticks(list(positions), ticks, fontsize="small")
    useful.set_ylabel("useful frames / s (met deadline)")
    useful.legend(fontsize="x-small")
    figure.suptitle(
        f"mixed criticality, onnxruntime CPU ({os.cpu_count()} cores), CPU demand "
        f"{result['cpu_demand_of_capacity']:.2f} of the cores; useful ours/naive "
        f"{result['ratio_useful_fps_ours_over_naive']}, ours/naive1 "
        f"{result['ratio_useful_fps_ours_over_naive1']}", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


if __name__ == "__main__":
    main()
