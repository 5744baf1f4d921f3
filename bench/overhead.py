"""Runtime overhead, three ratios in one run.

1. **runtime / hand-written serial loop**: the same stages a person would write by hand: take
   the next frame, ``preprocess_frame``, ``InferenceSession.run``, decode (softmax top-5, or
   detection decode + NMS). A runtime that overlaps capture and preprocessing with inference on
   the second core should beat it (ratio > 1).
2. **runtime / raw ``session.run``** on already preprocessed tensors: what the whole pipeline
   costs on top of inference alone.
3. **the scheduler's own cost per decision** on the simulated clock (µs): submit, decide and
   complete for three pipelines, no engine at all.

The runtime side is the real thing: an .npz source read as fast as the engine takes frames,
the scheduler, a lane thread, the output thread, decoding, scoring, the status counters. All
three loops run in one process on the same frames, alternating (raw, serial, runtime, raw, ...)
so that machine noise hits each; the medians are reported.

    python -m bench.overhead [--seconds 5] [--rounds 3] [--threads 1] [--models classifier detector]

Writes ``bench/results/overhead.json`` (and ``overhead.png`` when matplotlib is present).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.plotting import pyplot
from edge_runtime import Runtime, RuntimeOptions, __version__
from edge_runtime.config.assets import engines_dir
from edge_runtime.config.recipe import BackendName
from edge_runtime.config.stages import (
    ClassificationPost,
    DetectionPost,
    PostprocessConfig,
    PreprocessConfig,
)
from edge_runtime.fileio import atomic_write_text
from edge_runtime.pipelines.postprocess import make_decoder
from edge_runtime.pipelines.preprocess import preprocess_frame
from edge_runtime.scheduler.core import PipelineSpec, Scheduler
from edge_runtime.synthetic import SceneGenerator, SceneKind

RESULTS = Path(__file__).resolve().parent / "results"
FRAMES = 256
#: Seconds the runtime runs before its frames are counted (engine warm-up, first frames).
WARMUP_S = 0.5
PIPELINE = """
device: jetson-agx-orin-32gb
pipelines:
  - name: bench
    source: {{type: numpy, path: {frames}{labels}}}
    engine: {recipe}
    preprocess: {{resize: [{height}, {width}]}}
    postprocess: {postprocess}
"""


@dataclass(frozen=True)
class Case:
    """One model to measure: its recipe, ONNX, camera and decoder."""

    recipe: str
    onnx: str
    camera: tuple[int, int, SceneKind]
    resize: tuple[int, int]
    postprocess: str
    decoder: PostprocessConfig
    labelled: bool


CASES = {
    "classifier": Case("classifier.yaml", "shapes_classifier.onnx", (128, 128, SceneKind.SINGLE),
                       (64, 64), "{type: classification, top_k: 5}",
                       ClassificationPost(type="classification", top_k=5), True),
    "detector": Case("detector.yaml", "shapes_detector.onnx", (320, 240, SceneKind.MULTI),
                     (120, 160), "{type: detection}", DetectionPost(type="detection"), False),
}


def make_frames(case: Case, directory: Path) -> tuple[Path, list[np.ndarray[Any, Any]]]:
    width, height, kind = case.camera
    generator = SceneGenerator(width, height, kind, seed=4242)
    scenes = [generator.render(i) for i in range(FRAMES)]
    path = directory / "frames.npz"
    np.savez(path, frames=np.stack([s.image for s in scenes]),
             labels=np.array([s.objects[0].class_id if s.objects else -1 for s in scenes]))
    return path, [s.image for s in scenes]


def session(model: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def raw_fps(model: Path, tensors: list[np.ndarray[Any, Any]], seconds: float,
            threads: int) -> float:
    """``session.run`` alone, on tensors preprocessed beforehand."""
    runner = session(model, threads)
    name = runner.get_inputs()[0].name
    for tensor in tensors[:16]:
        runner.run(None, {name: tensor})
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        runner.run(None, {name: tensors[done % len(tensors)]})
        done += 1
    return done / (time.perf_counter() - started)


def serial_fps(model: Path, case: Case, images: list[np.ndarray[Any, Any]], seconds: float,
               threads: int) -> float:
    """The hand-written loop: next frame, preprocess, run, decode, one after the other."""
    runner = session(model, threads)
    name = runner.get_inputs()[0].name
    output_names = [o.name for o in runner.get_outputs()]
    config = PreprocessConfig(resize=case.resize)
    decode = make_decoder(case.decoder, [], case.resize)
    for image in images[:16]:
        decode(dict(zip(output_names, runner.run(None, {name: preprocess_frame(image, config)}),
                        strict=True)))
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        tensor = preprocess_frame(images[done % len(images)], config)
        outputs = runner.run(None, {name: tensor})
        decode(dict(zip(output_names, outputs, strict=True)))
        done += 1
    return done / (time.perf_counter() - started)


def runtime_fps(pipeline_file: Path, seconds: float, threads: int,
                cache: Path) -> tuple[float, dict[str, Any]]:
    """The runtime on the wall clock; frames counted after a warm-up."""
    runtime = Runtime(pipeline_file, clock="wall", options=RuntimeOptions(
        backend=BackendName.ONNXRUNTIME, cpu_threads=threads, cache_dir=cache))
    runtime.configure()
    runtime.activate()
    time.sleep(WARMUP_S)
    first = runtime.status()
    window_start = time.perf_counter()
    status_s: list[float] = []
    while time.perf_counter() - window_start < seconds:
        time.sleep(0.1)  # a host polling status at 10 Hz
        began = time.perf_counter()
        runtime.status()
        status_s.append(time.perf_counter() - began)
    last = runtime.status()
    runtime.deactivate()
    runtime.shutdown()
    fps = (last.pipelines["bench"].frames - first.pipelines["bench"].frames) / \
        (last.now - first.now)
    row = last.pipelines["bench"]
    return fps, {"p50_ms": row.p50_ms, "p99_ms": row.p99_ms, "errors": row.errors,
                 "status_call_us": round(statistics.median(status_s) * 1e6, 1)}


def scheduler_cost_us(decisions: int = 30_000) -> float:
    """µs per frame through the decision core (submit + decide + complete), three pipelines
    on two lanes, on the simulated clock."""
    scheduler = Scheduler(["gpu", "dla0"])
    specs = [PipelineSpec("critical", "gpu", 0, 0.033, 1, 1 / 30, 0.002),
             PipelineSpec("classifier", "gpu", 1, 0.066, 1, 1 / 15, 0.003),
             PipelineSpec("rear", "dla0", 3, None, 1, 1 / 10, 0.004)]
    for spec in specs:
        scheduler.add_pipeline(spec)
    now = 0.0
    started = time.perf_counter()
    for index in range(decisions):
        spec = specs[index % 3]
        now += 0.001
        scheduler.submit(spec.name, index, now, now)
        for job in scheduler.decide(now):
            scheduler.complete(job, now + 0.0005)
    return (time.perf_counter() - started) / decisions * 1e6


def measure(name: str, case: Case, seconds: float, rounds: int,
            threads: int) -> dict[str, Any]:
    model = engines_dir() / "models" / case.onnx
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        frames, images = make_frames(case, work)
        tensors = [preprocess_frame(image, PreprocessConfig(resize=case.resize))
                   for image in images]
        pipeline_file = work / "bench.yaml"
        pipeline_file.write_text(PIPELINE.format(
            frames=frames, labels=", labels_key: labels" if case.labelled else "",
            recipe=engines_dir() / case.recipe, height=case.resize[0], width=case.resize[1],
            postprocess=case.postprocess))
        raw, serial, ours, rows = [], [], [], []
        for round_index in range(rounds):
            raw.append(raw_fps(model, tensors, seconds, threads))
            serial.append(serial_fps(model, case, images, seconds, threads))
            fps, row = runtime_fps(pipeline_file, seconds, threads, work / "cache")
            ours.append(fps)
            rows.append(row)
            print(f"{name} round {round_index + 1}/{rounds}: raw {raw[-1]:.0f} fps, "
                  f"serial loop {serial[-1]:.0f} fps, runtime {ours[-1]:.0f} fps", flush=True)
    raw_median, serial_median = statistics.median(raw), statistics.median(serial)
    ours_median = statistics.median(ours)
    return {
        "model": case.onnx,
        "raw_session_fps": [round(v, 1) for v in raw],
        "serial_loop_fps": [round(v, 1) for v in serial],
        "runtime_fps": [round(v, 1) for v in ours],
        "raw_session_fps_median": round(raw_median, 1),
        "serial_loop_fps_median": round(serial_median, 1),
        "runtime_fps_median": round(ours_median, 1),
        "ratio_runtime_over_serial_loop": round(ours_median / serial_median, 3),
        "ratio_runtime_over_raw": round(ours_median / raw_median, 3),
        "runtime_cost_per_frame_ms": round((1 / ours_median - 1 / raw_median) * 1e3, 3),
        "runtime_latency": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead.json")
    args = parser.parse_args()
    cases = {name: measure(name, CASES[name], args.seconds, args.rounds, args.threads)
             for name in args.models}
    decision_us = statistics.median(scheduler_cost_us() for _ in range(3))
    result = {
        "benchmark": "overhead",
        "threads": args.threads,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "cases": cases,
        "scheduler_us_per_decision": round(decision_us, 2),
        "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                    "machine": platform.machine(), "cores": os.cpu_count()},
        "versions": {"edge_runtime": __version__, "onnxruntime": ort.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({"scheduler_us_per_decision": result["scheduler_us_per_decision"],
                      **{name: {k: case[k] for k in ("serial_loop_fps_median",
                                                     "runtime_fps_median",
                                                     "ratio_runtime_over_serial_loop",
                                                     "ratio_runtime_over_raw")}
                         for name, case in cases.items()}}))
    plot(result, args.out.with_suffix(".png"))


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    cases = result["cases"]
    figure, axis = plt.subplots(figsize=(6, 3.8))
    positions = range(len(cases))
    bars = [("raw_session_fps_median", "raw InferenceSession.run", "tab:gray"),
            ("serial_loop_fps_median", "hand-written serial loop", "tab:orange"),
            ("runtime_fps_median", "edge-runtime pipeline", "tab:blue")]
    for offset, (key, label, colour) in zip((-0.27, 0.0, 0.27), bars, strict=True):
        axis.bar([p + offset for p in positions], [case[key] for case in cases.values()],
                 0.27, color=colour, label=label)
    axis.set_xticks(list(positions), [
        f"{name}\nruntime/loop {case['ratio_runtime_over_serial_loop']:.2f}"
        for name, case in cases.items()])
    axis.set_ylabel("frames / s")
    axis.set_yscale("log")
    axis.legend(fontsize="small")
    axis.set_title(f"runtime overhead (onnxruntime CPU, {result['threads']} thread); "
                   f"scheduler {result['scheduler_us_per_decision']:.1f} µs/decision",
                   fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


if __name__ == "__main__":
    main()
