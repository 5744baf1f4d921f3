"""N cameras into one detector at a latency bound: our deadline-bounded batching against Triton's.

The robot case of issue 14: N cameras, triggered together (hardware sync) at R Hz, feed one
detector, and a frame is only useful if its result is back within the bound B (one frame
period by default). Two ways to batch them on this machine:

- **ours**: the real :class:`edge_runtime.Runtime` on the wall clock, backend onnxruntime on
  the CPU: N camera pipelines into one engine recipe built for batches of 1 .. 8 (a min / opt /
  max profile on the batch axis), ``deadline_ms: B``. The scheduler batches the cameras' waiting
  frames while the batch's expected run time still meets the earliest deadline in it (scheduler
  rule 10), and drops a frame that can no longer make it (rule 9).
- **triton**: a real Triton Inference Server (PyTriton's ``tritonserver``, Python backend, one
  instance of an onnxruntime CPU session inside; ``edge_runtime.triton.launch``) with its dynamic
  batcher, ``max_batch_size`` 8 and ``max_queue_delay`` = B (the issue's configuration), fed by a
  gRPC load generator in this process (``tritonclient.grpc.async_infer``: one sender thread that
  sends every camera's request at its scheduled instant, replies counted in callbacks). A
  second Triton configuration with a short queue delay (2 ms by default: enough to gather one
  trigger's requests, far less than the bound) is run and reported beside it, since waiting
  the whole bound for a batch that never fills is a configuration choice, not Triton's limit.

Why it is fair: the same ONNX model and onnxruntime version, the same intra-op thread count and
largest batch on both sides, one inference at a time on both (one lane; one instance); the
same frames (the synthetic world's camera images, rendered once before either side runs,
preprocessed per frame by the pipeline's own :class:`Preprocessor` arithmetic on both sides:
inside the runtime for ours, in the client before sending for Triton); the same arrival process
(frame k of every camera at k / R seconds after the start); the same measure: a frame's latency
is from its scheduled capture instant to its result in the host's hands (a subscriber callback
for ours, the gRPC callback for Triton), on the same monotonic clock; a frame whose result is
later than B, or that never came back (dropped, failed, timed out), missed the bound; useful
throughput is the frames back within B per second. Only frames captured after a warm-up are
scored. The two sides never run at the same time, and nothing else runs meanwhile. What differs
is what each design costs: Triton's requests cross gRPC and the server's process boundaries
(client, ``tritonserver``, the Python backend's stub, PyTriton's model process), ours stay in
one process; and Triton as launched here has no queue timeout (``TritonModelSpec`` sets no
queue policy, and a request's own ``timeout`` is ignored without one), so past its capacity a
request waits its turn however late, where ours drops a frame that can no longer make its
deadline.

    python -m bench.batching_vs_triton [--cameras 1 2 4 8 12 16 24] [--rate 30] [--bound-ms 33]
        [--seconds 6] [--threads 1] [--triton-alt-delay-us 2000]

Needs the Triton venv (``make triton-env``; or ``EDGE_RUNTIME_TRITON_PYTHON``). Writes
``bench/results/batching_vs_triton.json`` and ``batching_vs_triton.png`` (throughput, p99 and
misses per N). Run it on an idle machine: the figures are this host's CPU.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.plotting import pyplot
from edge_runtime import Output, Runtime, RuntimeOptions, __version__
from edge_runtime.config.assets import models_dir
from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.config.recipe import BackendName
from edge_runtime.config.stages import PreprocessConfig, SyntheticCameraSource
from edge_runtime.fileio import atomic_write_text
from edge_runtime.pipelines.preprocess import Preprocessor
from edge_runtime.pipelines.sources import Empty, Frame, SyntheticCamera
from edge_runtime.triton.launch import TritonModelSpec, TritonServer, find_triton_python

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = models_dir() / "shapes_detector.onnx"
MODEL_NAME = "detector"
INPUT, OUTPUT = "image", "detections"
HEIGHT, WIDTH = 120, 160
#: Frames rendered per camera, replayed in a loop (distinct scenes per camera: seed = index).
FRAMES_PER_CAMERA = 30
#: Python's thread switch interval on both sides while loaded (the runtime sets it for its
#: own threads while active; the load generator's sender and callback threads get the same).
SWITCH_INTERVAL_S = 0.0005
#: How long after the last scheduled frame each side has to deliver it.
DRAIN_S = 1.0
RECIPE = f"""\
onnx: {MODEL}
precision: fp32
max_batch: {{max_batch}}
inputs:
  image: {{{{min: [1, 3, {HEIGHT}, {WIDTH}], opt: [{{opt}}, 3, {HEIGHT}, {WIDTH}], \
max: [{{max_batch}}, 3, {HEIGHT}, {WIDTH}]}}}}
"""
CAMERA = f"""
  - name: cam{{index}}
    source: {{{{type: synthetic_camera, width: {WIDTH}, height: {HEIGHT}, fps: {{rate}}, \
seed: {{index}}}}}}
    preprocess: {{{{resize: [{HEIGHT}, {WIDTH}]}}}}
    engine: detector.yaml
    rate_hz: {{rate}}
    priority: high
    deadline_ms: {{bound}}
"""
PREPROCESS = PreprocessConfig(resize=(HEIGHT, WIDTH))

Images = list[list[npt.NDArray[np.uint8]]]


@dataclass(frozen=True)
class Settings:
    """Everything that defines one run of the comparison (recorded in the results)."""

    cameras: tuple[int, ...]
    rate_hz: float
    bound_ms: float
    seconds: float
    warmup_s: float
    threads: int
    max_batch: int
    triton_alt_delay_us: int | None

    @property
    def bound_s(self) -> float:
        return self.bound_ms / 1e3

    @property
    def bound_us(self) -> int:
        return round(self.bound_ms * 1e3)

    def window(self) -> range:
        """The frame indices scored: captured in [warm-up, warm-up + seconds)."""
        return range(math.ceil(self.warmup_s * self.rate_hz - 1e-9),
                     math.ceil((self.warmup_s + self.seconds) * self.rate_hz - 1e-9))

    def frame_count(self) -> int:
        """Frames each camera captures in one point: the warm-up and the scored window."""
        return self.window().stop


# --- frames ------------------------------------------------------------------------------------


def render_frames(cameras: int, rate: float) -> Images:
    """``FRAMES_PER_CAMERA`` frames of each camera's synthetic world (camera i: seed i)."""
    images: Images = []
    for index in range(cameras):
        camera = SyntheticCamera(SyntheticCameraSource(
            type="synthetic_camera", width=WIDTH, height=HEIGHT, fps=rate, seed=index))
        images.append([camera.read(k / rate).image for k in range(FRAMES_PER_CAMERA)])
        camera.close()
    return images


class ReplayCamera:
    """A camera source handing out pre-rendered frames: frame k exposed at k / rate, like the
    synthetic camera, without rendering under the runtime's GIL. It also learns the loop's
    origin on the monotonic clock (the earliest ``monotonic() - now`` of its reads), so the host
    can time results from the same instant the load generator does."""

    def __init__(self, images: list[npt.NDArray[np.uint8]], rate: float) -> None:
        self.rate_hz: float | None = rate
        self.images = images
        self.origin = math.inf

    def read(self, now: float) -> Frame | Empty:
        self.origin = min(self.origin, time.monotonic() - now)
        index = max(math.floor(now * self.rate + 1e-9), 0)
        return Frame(index, self.images[index % len(self.images)], index / self.rate)

    @property
    def rate(self) -> float:
        assert self.rate_hz is not None
        return self.rate_hz

    def prefetch(self, at: float) -> None:
        del at

    def close(self) -> None:
        pass


# --- scoring -----------------------------------------------------------------------------------


class Latencies:
    """Each (camera, frame index) -> its latency in seconds, or None for a failed request;
    written from callback threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: dict[tuple[int, int], float | None] = {}

    def record(self, camera: int, index: int, latency_s: float | None) -> None:
        with self._lock:
            self.seen[(camera, index)] = latency_s

    def snapshot(self) -> dict[tuple[int, int], float | None]:
        with self._lock:
            return dict(self.seen)


def score(latencies: dict[tuple[int, int], float | None], cameras: int,
          settings: Settings) -> dict[str, Any]:
    """The figures of one side at one N, over the scored window's frames of every camera."""
    window = settings.window()
    got = [latencies.get((camera, index)) for camera in range(cameras) for index in window]
    answered = np.array([x for x in got if x is not None], dtype=np.float64)
    offered = len(got)
    within = int(np.count_nonzero(answered <= settings.bound_s))
    missed = offered - within

    def percentile(q: float) -> float | None:
        return round(float(np.percentile(answered, q)) * 1e3, 2) if answered.size else None

    return {
        "offered": offered, "answered": int(answered.size), "within_bound": within,
        "missed": missed, "missed_late": int(answered.size) - within,
        "missed_lost": offered - int(answered.size),
        "missed_fraction": round(missed / offered, 4) if offered else None,
        "throughput_fps": round(within / settings.seconds, 2),
        "offered_fps": round(cameras * settings.rate_hz, 2),
        "p50_ms": percentile(50), "p99_ms": percentile(99),
        "max_ms": round(float(answered.max()) * 1e3, 2) if answered.size else None,
    }


class OtherLoad:
    """CPU time the host spent outside this benchmark's processes (its own process group and the
    Triton server's) while a point ran, as a share of the host's cores: on a shared machine,
    other work during a point would skew it (Linux ``/proc``; None elsewhere)."""

    def __init__(self, groups: Sequence[int]) -> None:
        self.groups = {os.getpgid(0), *groups}
        self._start = (time.monotonic(), *self._cpu())

    def _cpu(self) -> tuple[float, float]:
        """(busy CPU seconds of the host, of our process groups) so far."""
        tick = os.sysconf("SC_CLK_TCK")
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except OSError:
            return math.nan, math.nan
        busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        ours = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                after = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process ended meanwhile
            if int(after[2]) in self.groups:  # pgrp
                ours += int(after[11]) + int(after[12])  # utime + stime
        return busy / tick, ours / tick

    def share(self) -> float | None:
        """The other processes' share of the host's CPU since this watch started."""
        start, busy0, ours0 = self._start
        busy1, ours1 = self._cpu()
        elapsed = (time.monotonic() - start) * (os.cpu_count() or 1)
        other = (busy1 - busy0) - (ours1 - ours0)
        return None if math.isnan(other) else round(max(other, 0.0) / elapsed, 3)


# --- ours --------------------------------------------------------------------------------------


def recipe(settings: Settings) -> str:
    """The detector's recipe: batches 1 .. max batch, the profile's opt half of it."""
    return RECIPE.format(max_batch=settings.max_batch, opt=max(settings.max_batch // 2, 1))


def write_set(folder: Path, cameras: int, settings: Settings) -> Path:
    """A pipeline set of ``cameras`` cameras into one detector built for batches up to 8 (the
    same engine for every N: one cache entry)."""
    (folder / "detector.yaml").write_text(recipe(settings), encoding="utf-8")
    body = "".join(CAMERA.format(index=i, rate=settings.rate_hz, bound=settings.bound_ms)
                   for i in range(cameras))
    path = folder / "set.yaml"
    path.write_text(f"device: jetson-agx-orin-32gb\npipelines:{body}", encoding="utf-8")
    return path


def run_ours(cameras: int, images: Images, settings: Settings, cache: Path) -> dict[str, Any]:
    """Our runtime at one N: figures from the host's view, and the run summary's own."""
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_pipeline_set(write_set(Path(folder), cameras, settings))
        sources = [ReplayCamera(images[i], settings.rate_hz) for i in range(cameras)]
        runtime = Runtime(loaded, clock="wall",
                          sources={f"cam{i}": s for i, s in enumerate(sources)},
                          options=RuntimeOptions(backend=BackendName.ONNXRUNTIME,
                                                 cache_dir=cache, cpu_threads=settings.threads,
                                                 switch_interval_s=SWITCH_INTERVAL_S))
        latencies = Latencies()

        def on_output(output: Output) -> None:
            camera = int(output.pipeline.removeprefix("cam"))
            at = time.monotonic() - sources[camera].origin - output.capture_time
            latencies.record(camera, output.frame_index, at)

        runtime.subscribe(on_output, queue_size=1024)
        runtime.configure()
        watch = OtherLoad(())
        runtime.activate()
        time.sleep(settings.frame_count() / settings.rate_hz + DRAIN_S)
        summary = runtime.deactivate().to_dict()
        other = watch.share()
        runtime.shutdown()
    figures = score(latencies.snapshot(), cameras, settings)
    figures["other_load_cpu_share"] = other
    figures["runtime_summary"] = summary_figures(summary, cameras)
    figures["mean_batch"] = figures["runtime_summary"]["mean_batch"]
    return figures


def summary_figures(summary: dict[str, Any], cameras: int) -> dict[str, Any]:
    """The run summary's own figures, over the whole activation (warm-up included)."""
    rows = [row for i in range(cameras) for row in summary["pipelines"][f"cam{i}"].values()]
    histogram: dict[str, int] = {}
    for by_mode in summary["batches"].get(MODEL_NAME, {}).values():
        for size, count in by_mode.items():
            histogram[size] = histogram.get(size, 0) + count
    runs = sum(histogram.values())
    return {
        "frames": sum(r["frames"] for r in rows),
        "deadline_misses": sum(r["deadline_misses"] for r in rows),
        "drops": sum(r["drops"] for r in rows),
        "late_drops": sum(r["late_drops"] for r in rows),
        "p99_ms_worst_camera": max((r["p99_ms"] or 0.0) for r in rows),
        "batches": histogram,
        "mean_batch": round(sum(int(s) * c for s, c in histogram.items()) / runs, 3)
        if runs else None,
        "paused": [name for name, fault in summary.get("faults", {}).items()
                   if fault.get("state") == "paused"],
    }


# --- triton ------------------------------------------------------------------------------------


def triton_spec(settings: Settings, delay_us: int) -> TritonModelSpec:
    return TritonModelSpec(name=MODEL_NAME, onnx=MODEL, max_batch_size=settings.max_batch,
                           max_queue_delay_us=delay_us, cpu_threads=settings.threads)


def model_counts(client: Any) -> tuple[int, int]:
    """(inferences, executions) the server counted for the model: their ratio is the mean
    batch it ran."""
    stats = client.get_inference_statistics(MODEL_NAME, as_json=True)
    model = stats["model_stats"][0]
    return int(model.get("inference_count", 0)), int(model.get("execution_count", 0))


def send_load(client: Any, cameras: int, images: Images, settings: Settings,
              latencies: Latencies) -> None:
    """Every camera's frame k at start + k / rate, sent asynchronously from this thread; each
    reply's latency from its scheduled instant, recorded in its callback."""
    import tritonclient.grpc as grpcclient

    preprocess = Preprocessor(PREPROCESS, None, buffers=1)
    requested = [grpcclient.InferRequestedOutput(OUTPUT)]
    timeout = max(1.0, 20 * settings.bound_s)

    def done(camera: int, index: int, at: float, result: Any, error: Any) -> None:
        now = time.monotonic()
        latencies.record(camera, index, None if error is not None or result is None
                         else now - at)

    start = time.monotonic() + 0.05
    for index in range(settings.frame_count()):
        at = start + index / settings.rate_hz
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for camera in range(cameras):
            tensor = preprocess(images[camera][index % len(images[camera])])
            request = grpcclient.InferInput(INPUT, list(tensor.shape), "FP32")
            request.set_data_from_numpy(tensor)
            client.async_infer(MODEL_NAME, [request], partial(done, camera, index, at),
                               outputs=requested, client_timeout=timeout)


def wait_for(latencies: Latencies, expected: int, timeout: float) -> None:
    """Until ``expected`` replies (or failures) are in, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while len(latencies.snapshot()) < expected and time.monotonic() < deadline:
        time.sleep(0.05)


def run_triton_point(client: Any, server_group: int, cameras: int, images: Images,
                     settings: Settings) -> dict[str, Any]:
    """Triton at one N: the load, the figures, the server's mean batch."""
    latencies = Latencies()
    watch = OtherLoad((server_group,))
    before = model_counts(client)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        send_load(client, cameras, images, settings, latencies)
        wait_for(latencies, cameras * settings.frame_count(), DRAIN_S + 20 * settings.bound_s)
    finally:
        sys.setswitchinterval(previous)
    other = watch.share()
    after = model_counts(client)
    figures = score(latencies.snapshot(), cameras, settings)
    figures["other_load_cpu_share"] = other
    inferences, executions = after[0] - before[0], after[1] - before[1]
    figures["mean_batch"] = round(inferences / executions, 3) if executions else None
    figures["server_inferences"], figures["server_executions"] = inferences, executions
    time.sleep(0.5)  # late replies of this point are in before the next one starts
    return figures


def served_config(client: Any) -> dict[str, Any]:
    """What the server says it serves the model with (batching, instances): the record of
    what Triton actually ran, defaults it filled in included."""
    config = client.get_model_config(MODEL_NAME, as_json=True)["config"]
    keys = ("max_batch_size", "dynamic_batching", "instance_group", "backend")
    return {key: config[key] for key in keys if key in config}


def run_triton(delay_us: int, images: Images, settings: Settings,
               progress: Callable[[str], None]) -> tuple[dict[int, dict[str, Any]],
                                                         dict[str, Any]]:
    """One Triton configuration over every N: figures per N; the server's start time and
    served model configuration."""
    import tritonclient.grpc as grpcclient

    started = time.perf_counter()
    results: dict[int, dict[str, Any]] = {}
    with TritonServer([triton_spec(settings, delay_us)]) as server:
        startup = time.perf_counter() - started
        progress(f"triton (max_queue_delay {delay_us} us) ready in {startup:.1f} s")
        client = grpcclient.InferenceServerClient(server.url)
        try:
            served = {"max_queue_delay_us": delay_us, "startup_s": round(startup, 2),
                      "model_config": served_config(client)}
            for cameras in settings.cameras:
                assert server.pid is not None
                results[cameras] = run_triton_point(client, server.pid, cameras, images,
                                                    settings)
                progress(line(f"triton {delay_us} us", cameras, results[cameras]))
        finally:
            client.close()
    return results, served


# --- report ------------------------------------------------------------------------------------


def line(side: str, cameras: int, figures: dict[str, Any]) -> str:
    return (f"{side:>18} N={cameras:<3} {figures['throughput_fps']:7.1f} of "
            f"{figures['offered_fps']:6.1f} frames/s within bound, p99 {figures['p99_ms']} ms, "
            f"missed {figures['missed']} ({figures['missed_fraction']:.1%}), "
            f"mean batch {figures['mean_batch']}, other load {figures['other_load_cpu_share']}")


def compare(ours: dict[str, Any], triton: dict[str, Any]) -> dict[str, Any]:
    return {
        "ratio_throughput": round(ours["throughput_fps"] / triton["throughput_fps"], 3)
        if triton["throughput_fps"] else None,
        "fewer_misses": ours["missed"] < triton["missed"],
        "at_least_throughput": ours["throughput_fps"] >= triton["throughput_fps"],
    }


def shortfalls(points: list[dict[str, Any]], side: str) -> list[dict[str, Any]]:
    """The N where ours did not have at least ``side``'s throughput with fewer misses, and
    why (a tie at zero misses is no win: the rule says fewer)."""
    found = []
    for point in points:
        ours, theirs = point["ours"], point[side]
        why = []
        if ours["throughput_fps"] < theirs["throughput_fps"]:
            why.append(f"throughput {ours['throughput_fps']} < {theirs['throughput_fps']}")
        if ours["missed"] >= theirs["missed"]:
            why.append(f"misses {ours['missed']} not fewer than {theirs['missed']}")
        if why:
            found.append({"cameras": point["cameras"], "why": "; ".join(why)})
    return found


def versions(triton_python: Path) -> dict[str, str | None]:
    import onnxruntime

    found: dict[str, str | None] = {
        "edge_runtime": __version__, "onnxruntime": onnxruntime.__version__,
        "tritonclient": importlib.metadata.version("tritonclient"),
        "python": sys.version.split()[0],
    }
    probe = ("import importlib.metadata as m, onnxruntime, sys; "
             "print(m.version('nvidia-pytriton'), onnxruntime.__version__, sys.version.split()[0])")
    try:
        out = subprocess.run([str(triton_python), "-c", probe], capture_output=True, text=True,
                             timeout=60, check=True).stdout.split()
        found.update(pytriton=out[0], triton_onnxruntime=out[1], triton_python=out[2])
    except (OSError, subprocess.SubprocessError, IndexError):
        found.update(pytriton=None, triton_onnxruntime=None, triton_python=None)
    return found


def plot(points: list[dict[str, Any]], settings: Settings, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return

    sides = [("ours", "ours (deadline-bounded batching)"),
             ("triton", f"Triton, max_queue_delay {settings.bound_us} us (= bound)")]
    if settings.triton_alt_delay_us is not None:
        sides.append(("triton_alt",
                      f"Triton, max_queue_delay {settings.triton_alt_delay_us} us"))
    xs = [p["cameras"] for p in points]
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    panels = (("throughput_fps", "frames/s back within the bound"),
              ("p99_ms", "p99 latency (ms)"), ("missed_fraction", "share of frames that missed"))
    for axis, (key, title) in zip(axes, panels, strict=True):
        for side, label in sides:
            axis.plot(xs, [p[side][key] for p in points], "o-", label=label)
        if key == "throughput_fps":
            axis.plot(xs, [c * settings.rate_hz for c in xs], "k:", label="offered")
        if key == "p99_ms":
            axis.axhline(settings.bound_ms, color="r", linestyle="--", label="bound")
            axis.set_yscale("log")
        axis.set_xticks(xs)
        axis.set_xlabel(f"cameras at {settings.rate_hz:g} Hz into one detector")
        axis.set_title(title)
        axis.legend(fontsize=7)
    figure.suptitle(f"shapes_detector, onnxruntime CPU ({settings.threads} thread), max batch "
                    f"{settings.max_batch}, bound {settings.bound_ms:g} ms, on "
                    f"{os.cpu_count()} cores")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def command_line(settings: Settings) -> str:
    parts = ["python -m bench.batching_vs_triton", "--cameras",
             *map(str, settings.cameras), "--rate", f"{settings.rate_hz:g}", "--bound-ms",
             f"{settings.bound_ms:g}", "--seconds", f"{settings.seconds:g}", "--warmup",
             f"{settings.warmup_s:g}", "--threads", str(settings.threads)]
    if settings.triton_alt_delay_us is not None:
        parts += ["--triton-alt-delay-us", str(settings.triton_alt_delay_us)]
    return " ".join(parts)


def parse(argv: Sequence[str] | None) -> tuple[Settings, Path]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4, 8, 12, 16, 24])
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--bound-ms", type=float, default=33.0,
                        help="latency bound: our deadline, Triton's max_queue_delay")
    parser.add_argument("--seconds", type=float, default=6.0, help="scored seconds per point")
    parser.add_argument("--warmup", type=float, default=1.0, help="unscored seconds first")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--triton-alt-delay-us", type=int, default=2000,
                        help="a second Triton configuration's max_queue_delay (-1: none)")
    parser.add_argument("--out", type=Path, default=RESULTS / "batching_vs_triton.json")
    args = parser.parse_args(argv)
    alt = args.triton_alt_delay_us if args.triton_alt_delay_us >= 0 else None
    return Settings(tuple(args.cameras), args.rate, args.bound_ms, args.seconds, args.warmup,
                    args.threads, 8, alt), args.out


def run(settings: Settings) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Ours at every N, then each Triton configuration at every N (one side at a time)."""
    def progress(text: str) -> None:
        print(text, flush=True)

    images = render_frames(max(settings.cameras), settings.rate_hz)
    ours: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as cache:
        for cameras in settings.cameras:
            ours[cameras] = run_ours(cameras, images, settings, Path(cache))
            progress(line("ours", cameras, ours[cameras]))
    triton, served = run_triton(settings.bound_us, images, settings, progress)
    servers: dict[str, Any] = {"triton": served}
    alt: dict[int, dict[str, Any]] = {}
    if settings.triton_alt_delay_us is not None:
        alt, servers["triton_alt"] = run_triton(settings.triton_alt_delay_us, images, settings,
                                                progress)
    points = []
    for cameras in settings.cameras:
        point: dict[str, Any] = {"cameras": cameras, "ours": ours[cameras],
                                 "triton": triton[cameras], **compare(ours[cameras],
                                                                      triton[cameras])}
        if alt:
            point["triton_alt"] = alt[cameras]
            point["vs_triton_alt"] = compare(ours[cameras], alt[cameras])
        points.append(point)
    return points, servers


RULE = "ours >= triton throughput and fewer misses at every N"


def targets(points: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """The issue's target against Triton as it sets it up, and the same rule against the
    second Triton configuration."""
    missing = shortfalls(points, "triton")
    target: dict[str, Any] = {
        "met": not missing, "rule": RULE, "not_met_at": missing,
        "against": f"triton: max_queue_delay {settings.bound_us} us (the bound, as the issue "
                   "sets it)"}
    if settings.triton_alt_delay_us is not None:
        missing_alt = shortfalls(points, "triton_alt")
        target["vs_triton_alt"] = {
            "met": not missing_alt, "not_met_at": missing_alt,
            "against": f"triton_alt: max_queue_delay {settings.triton_alt_delay_us} us"}
    return target


def main(argv: Sequence[str] | None = None) -> None:
    settings, out = parse(argv)
    triton_python = find_triton_python()
    load_before = os.getloadavg()
    started = time.perf_counter()
    points, servers = run(settings)
    wall = round(time.perf_counter() - started, 1)
    target = targets(points, settings)
    report = {
        "benchmark": "batching_vs_triton",
        "versions": versions(triton_python),
        "host": {"platform": platform.platform(), "machine": platform.machine(),
                 "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
                 "loadavg_before": [round(x, 2) for x in load_before],
                 "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "config": config(settings, triton_python),
        "points": points,
        "target": target,
        "triton_served": servers,
        "wall_s": wall,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    plot(points, settings, out.with_suffix(".png"))
    alt = target.get("vs_triton_alt")
    print(f"target met: {target['met']} ({RULE})"
          + (f"; against triton_alt: {alt['met']} {alt['not_met_at']}" if alt else "")
          + f"; {wall} s; results written to {out}")


def model_path() -> str:
    """The model as the recipes name it (engines/models/...)."""
    return str(MODEL.relative_to(MODEL.parents[2]))


def config(settings: Settings, triton_python: Path) -> dict[str, Any]:
    """What re-runs both sides: the settings, each side's configuration, the command."""
    return {
        **asdict(settings), "bound_us": settings.bound_us,
        "model": model_path(), "input": [INPUT, 3, HEIGHT, WIDTH],
        "frames": f"synthetic_camera {WIDTH}x{HEIGHT} scene multi, camera i seed i, "
                  f"{FRAMES_PER_CAMERA} frames each replayed in a loop; preprocess "
                  f"{PREPROCESS.model_dump(mode='json')}",
        "arrival": "hardware sync: frame k of every camera at k / rate s after the start",
        "measure": "latency from the scheduled capture instant to the result in the host's "
                   "callback; within bound if <= bound_ms; a frame never answered misses",
        "switch_interval_s": SWITCH_INTERVAL_S,
        "ours": {"runtime": "edge_runtime.Runtime, clock wall, backend onnxruntime "
                            "(CPUExecutionProvider), one cpu lane",
                 "recipe": recipe(settings),
                 "pipeline": CAMERA.format(index="I", rate=settings.rate_hz,
                                           bound=settings.bound_ms),
                 "cpu_threads": settings.threads},
        "triton": {"server": "edge_runtime.triton.launch.TritonServer (PyTriton tritonserver, "
                             "python backend, onnxruntime CPUExecutionProvider inside)",
                   "python": str(triton_python),
                   "model": asdict(triton_spec(settings, settings.bound_us)) | {
                       "onnx": model_path()},
                   "alt_max_queue_delay_us": settings.triton_alt_delay_us,
                   "client": "tritonclient.grpc async_infer from one sender thread, "
                             "FP32 [1, 3, 120, 160] per request"},
        "command": command_line(settings),
    }


if __name__ == "__main__":
    main()
