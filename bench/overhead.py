"""Runtime overhead: one pipeline on the onnxruntime backend vs a raw ``InferenceSession.run`` loop.

Both run a bundled model on the same frames in the same process, alternating
(raw, runtime, raw, runtime, ...) so that machine noise hits both; the median of each is
reported, with their ratio. The runtime side is the whole pipeline: an .npz source read as fast
as the engine takes frames, preprocessing (resize, scale, layout), the scheduler, a lane thread,
decoding (softmax top-5) and scoring. The raw side only runs the session on already
preprocessed tensors, so the ratio is what the runtime costs on top of inference. The
classifier (0.1 ms per inference) is the case the ratio is quoted for; the detector (about
1 ms) shows how the same per-frame cost weighs on a larger model.

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

from edge_runtime import __version__
from edge_runtime.config import load_pipeline_set
from edge_runtime.config.assets import engines_dir
from edge_runtime.config.recipe import BackendName
from edge_runtime.config.stages import PreprocessConfig
from edge_runtime.fileio import atomic_write_text
from edge_runtime.pipelines.preprocess import preprocess_frame
from edge_runtime.runtime.runtime import RunOptions, Runtime
from edge_runtime.synthetic import SceneGenerator, SceneKind

RESULTS = Path(__file__).resolve().parent / "results"
FRAMES = 256
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
    labelled: bool


CASES = {
    "classifier": Case("classifier.yaml", "shapes_classifier.onnx", (128, 128, SceneKind.SINGLE),
                       (64, 64), "{type: classification, top_k: 5}", True),
    "detector": Case("detector.yaml", "shapes_detector.onnx", (320, 240, SceneKind.MULTI),
                     (120, 160), "{type: detection}", False),
}


def make_frames(case: Case, directory: Path) -> tuple[Path, list[np.ndarray[Any, Any]]]:
    width, height, kind = case.camera
    generator = SceneGenerator(width, height, kind, seed=4242)
    scenes = [generator.render(i) for i in range(FRAMES)]
    path = directory / "frames.npz"
    np.savez(path, frames=np.stack([s.image for s in scenes]),
             labels=np.array([s.objects[0].class_id if s.objects else -1 for s in scenes]))
    config = PreprocessConfig(resize=case.resize)
    return path, [preprocess_frame(s.image, config) for s in scenes]


def raw_fps(model: Path, tensors: list[np.ndarray[Any, Any]], seconds: float,
            threads: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for tensor in tensors[:16]:
        session.run(None, {name: tensor})
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, {name: tensors[done % len(tensors)]})
        done += 1
    return done / (time.perf_counter() - started)


def runtime_fps(pipeline_file: Path, seconds: float, threads: int,
                cache: Path) -> tuple[float, dict[str, Any]]:
    runtime = Runtime(load_pipeline_set(pipeline_file),
                      RunOptions(duration_s=seconds, clock="wall",
                                 backend=BackendName.ONNXRUNTIME, cpu_threads=threads,
                                 cache_dir=cache))
    runtime.prepare()
    summary = runtime.run()
    row = summary.pipelines["bench"][next(iter(summary.pipelines["bench"]))]
    return row["frames"] / summary.duration_s, row


def measure(name: str, case: Case, seconds: float, rounds: int,
            threads: int) -> dict[str, Any]:
    model = engines_dir() / "models" / case.onnx
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        frames, tensors = make_frames(case, work)
        pipeline_file = work / "bench.yaml"
        pipeline_file.write_text(PIPELINE.format(
            frames=frames, labels=", labels_key: labels" if case.labelled else "",
            recipe=engines_dir() / case.recipe, height=case.resize[0], width=case.resize[1],
            postprocess=case.postprocess))
        raw, ours, rows = [], [], []
        for round_index in range(rounds):
            raw.append(raw_fps(model, tensors, seconds, threads))
            fps, row = runtime_fps(pipeline_file, seconds, threads, work / "cache")
            ours.append(fps)
            rows.append(row)
            print(f"{name} round {round_index + 1}/{rounds}: raw {raw[-1]:.0f} fps, "
                  f"runtime {ours[-1]:.0f} fps")
    raw_median, ours_median = statistics.median(raw), statistics.median(ours)
    return {
        "model": case.onnx,
        "raw_session_fps": [round(v, 1) for v in raw],
        "runtime_fps": [round(v, 1) for v in ours],
        "raw_session_fps_median": round(raw_median, 1),
        "runtime_fps_median": round(ours_median, 1),
        "ratio_runtime_over_raw": round(ours_median / raw_median, 3),
        "runtime_cost_per_frame_ms": round((1 / ours_median - 1 / raw_median) * 1e3, 3),
        "runtime_p50_ms": [r["p50_ms"] for r in rows],
        "runtime_accuracy": [r.get("accuracy") for r in rows],
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
    result = {
        "benchmark": "overhead",
        "threads": args.threads,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "cases": cases,
        "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                    "machine": platform.machine(), "cores": os.cpu_count()},
        "versions": {"edge_runtime": __version__, "onnxruntime": ort.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({name: {k: case[k] for k in ("raw_session_fps_median",
                                                  "runtime_fps_median",
                                                  "ratio_runtime_over_raw")}
                      for name, case in cases.items()}))
    plot(result, args.out.with_suffix(".png"))


def plot(result: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    cases = result["cases"]
    figure, axis = plt.subplots(figsize=(6, 3.8))
    positions = range(len(cases))
    raw = [case["raw_session_fps_median"] for case in cases.values()]
    ours = [case["runtime_fps_median"] for case in cases.values()]
    axis.bar([p - 0.2 for p in positions], raw, 0.4, color="tab:gray",
             label="raw InferenceSession.run")
    axis.bar([p + 0.2 for p in positions], ours, 0.4, color="tab:blue",
             label="edge-runtime pipeline")
    axis.set_xticks(list(positions), [f"{name}\nratio {case['ratio_runtime_over_raw']:.2f}"
                                      for name, case in cases.items()])
    axis.set_ylabel("frames / s")
    axis.set_yscale("log")
    axis.legend(fontsize="small")
    axis.set_title("runtime overhead (onnxruntime CPU, 1 thread)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


if __name__ == "__main__":
    main()
