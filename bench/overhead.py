"""Runtime overhead: one pipeline on the onnxruntime backend vs a raw ``InferenceSession.run`` loop.

Both run the bundled classifier on the same frames in the same process, alternating
(raw, runtime, raw, runtime, ...) so that machine noise hits both; the median of each is
reported, with their ratio. The runtime side is the whole pipeline: an .npz source read as fast
as the engine takes frames, preprocessing (resize, scale, layout), the scheduler, a lane thread,
decoding (softmax top-5) and scoring. The raw side only runs the session on already
preprocessed tensors, so the ratio is what the runtime costs on top of inference.

    python bench/overhead.py [--seconds 5] [--rounds 3] [--threads 1]

Writes ``bench/results/overhead.json`` (and ``overhead.png`` when matplotlib is present).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge_runtime import __version__
from edge_runtime.config import load_pipeline_set
from edge_runtime.config.assets import engines_dir
from edge_runtime.config.pipeline import PreprocessConfig
from edge_runtime.config.recipe import BackendName
from edge_runtime.fileio import atomic_write_text
from edge_runtime.pipelines.preprocess import preprocess_frame
from edge_runtime.runtime.runtime import RunOptions, Runtime
from edge_runtime.synthetic import SceneGenerator, SceneKind

RESULTS = Path(__file__).resolve().parent / "results"
FRAMES = 256
PIPELINE = """
device: jetson-agx-orin-32gb
pipelines:
  - name: classifier
    source: {{type: numpy, path: {frames}, labels_key: labels}}
    engine: {recipe}
    preprocess: {{resize: [64, 64]}}
    postprocess: {{type: classification, top_k: 5}}
"""


def make_frames(directory: Path) -> tuple[Path, list[np.ndarray[Any, Any]]]:
    generator = SceneGenerator(128, 128, SceneKind.SINGLE, seed=4242)
    scenes = [generator.render(i) for i in range(FRAMES)]
    path = directory / "frames.npz"
    np.savez(path, frames=np.stack([s.image for s in scenes]),
             labels=np.array([s.objects[0].class_id for s in scenes]))
    tensors = [preprocess_frame(s.image, PreprocessConfig(resize=(64, 64))) for s in scenes]
    return path, tensors


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
    row = summary.pipelines["classifier"][next(iter(summary.pipelines["classifier"]))]
    return row["frames"] / summary.duration_s, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead.json")
    args = parser.parse_args()
    recipe = engines_dir() / "classifier.yaml"
    model = engines_dir() / "models" / "shapes_classifier.onnx"
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        frames, tensors = make_frames(work)
        pipeline_file = work / "bench.yaml"
        pipeline_file.write_text(PIPELINE.format(frames=frames, recipe=recipe))
        raw, ours, rows = [], [], []
        for round_index in range(args.rounds):
            raw.append(raw_fps(model, tensors, args.seconds, args.threads))
            fps, row = runtime_fps(pipeline_file, args.seconds, args.threads, work / "cache")
            ours.append(fps)
            rows.append(row)
            print(f"round {round_index + 1}/{args.rounds}: raw {raw[-1]:.0f} fps, "
                  f"runtime {ours[-1]:.0f} fps")
    result = {
        "benchmark": "overhead",
        "model": model.name,
        "threads": args.threads,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "raw_session_fps": [round(v, 1) for v in raw],
        "runtime_fps": [round(v, 1) for v in ours],
        "raw_session_fps_median": round(statistics.median(raw), 1),
        "runtime_fps_median": round(statistics.median(ours), 1),
        "ratio_runtime_over_raw": round(statistics.median(ours) / statistics.median(raw), 3),
        "runtime_p50_ms": [r["p50_ms"] for r in rows],
        "runtime_top1": [r.get("accuracy") for r in rows],
        "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                    "machine": platform.machine()},
        "versions": {"edge_runtime": __version__, "onnxruntime": ort.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("raw_session_fps_median", "runtime_fps_median",
                                             "ratio_runtime_over_raw")}))
    plot(result, args.out.with_suffix(".png"))


def plot(result: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axis = plt.subplots(figsize=(5, 3.5))
    values = [result["raw_session_fps_median"], result["runtime_fps_median"]]
    axis.bar(["raw InferenceSession.run", "edge-runtime pipeline"], values,
             color=["tab:gray", "tab:blue"])
    axis.set_ylabel("frames / s")
    axis.set_title(f"{result['model']}: ratio {result['ratio_runtime_over_raw']:.2f}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


if __name__ == "__main__":
    main()
