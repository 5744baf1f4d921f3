"""Deadline-bounded batching: N cameras into one detector, batched against unbatched.

The robot case Triton and DeepStream batch: several cameras, triggered together, feeding one
detector. Both sides are the real runtime, scheduler and lanes on the simulated Jetson (sim
clock, flat out; mock engines whose latency per batch size is the device model's, priced as
SSD-MobileNetV1 300x300 in FP16), on the same cameras, deadlines (one frame period) and power
mode; the only difference is the engine's ``max_batch``: N (the scheduler batches, scheduler
rule 10) or 1 (one frame per inference). Reported per N and power mode: useful throughput
(frames out within their deadline, per second), p99 latency, deadline misses and drops, the
batch-size histogram, and the ratios batched / unbatched. Simulated timing, not this host's:
on a module the figures would come from its engines, and the same comparison holds.

    python -m bench.batching [--cameras 2 4 8] [--rate 60] [--seconds 10] [--modes 15W 40W]

Writes ``bench/results/batching.json`` (and ``batching.png`` when matplotlib is present).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.plotting import pyplot
from edge_runtime import Runtime, RuntimeOptions, __version__
from edge_runtime.cli.plan import stand_in_host_work, stand_in_source
from edge_runtime.config.assets import models_dir
from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.config.recipe import BackendName, MockOutputs
from edge_runtime.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
RECIPE = """\
onnx: {onnx}
precision: fp16
target: {{device: gpu}}
max_batch: {max_batch}
mock: {{price_as: ssd_mobilenet_v1}}
"""
CAMERA = """
  - name: cam{index}
    source: {{type: synthetic_camera, width: 160, height: 120, fps: {rate}, seed: {index}}}
    engine: detector.yaml
    rate_hz: {rate}
    priority: high
"""


def write_set(folder: Path, cameras: int, rate: float, max_batch: int) -> Path:
    """A pipeline set of ``cameras`` cameras into one detector built for ``max_batch``."""
    (folder / "detector.yaml").write_text(RECIPE.format(
        onnx=models_dir() / "shapes_detector.onnx", max_batch=max_batch), encoding="utf-8")
    body = "".join(CAMERA.format(index=i, rate=rate) for i in range(cameras))
    path = folder / "set.yaml"
    path.write_text(f"device: jetson-agx-orin-32gb\npipelines:{body}", encoding="utf-8")
    return path


def run_side(cameras: int, rate: float, max_batch: int, mode: str, seconds: float,
             cache: Path) -> dict[str, Any]:
    """One side of one comparison: the figures of ``seconds`` of simulated time."""
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_pipeline_set(write_set(Path(folder), cameras, rate, max_batch))
        sources = {p.name: s for p in loaded.config.pipelines
                   if (s := stand_in_source(p)) is not None}
        runtime = Runtime(loaded, clock="sim", sources=sources, options=RuntimeOptions(
            backend=BackendName.MOCK, mock_outputs=MockOutputs.SYNTHETIC, cache_dir=cache,
            power_mode=mode, power_schedule=[], camera_processes=False, freeze_gc=False))
        runtime.configure()
        stand_in_host_work(list(runtime.pipelines.values()))
        started = time.perf_counter()
        runtime.activate()
        runtime.run_for(seconds)
        summary = runtime.deactivate().to_dict()
        wall = time.perf_counter() - started
        runtime.shutdown()
    rows = [summary["pipelines"][f"cam{i}"][mode] for i in range(cameras)]
    useful = sum(r["frames"] - r["deadline_misses"] for r in rows)
    return {
        "max_batch": max_batch,
        "useful_fps": round(useful / seconds, 2),
        "offered_fps": round(cameras * rate, 2),
        "p99_ms": max(r["p99_ms"] or 0.0 for r in rows),
        "deadline_misses": sum(r["deadline_misses"] for r in rows),
        "drops": sum(r["drops"] + r["late_drops"] for r in rows),
        #: cameras the planner paused: what the mode could not carry
        "paused": sum(summary["faults"][f"cam{i}"]["state"] == "paused" for i in range(cameras)),
        "gpu_utilisation": summary["modes"][mode]["utilisation"].get("gpu", 0.0),
        "batches": summary["batches"].get("detector", {}).get(mode, {}),
        "wall_s": round(wall, 3),
    }


def compare(cameras: int, rate: float, mode: str, seconds: float, cache: Path) -> dict[str, Any]:
    batched = run_side(cameras, rate, cameras, mode, seconds, cache)
    unbatched = run_side(cameras, rate, 1, mode, seconds, cache)
    return {
        "cameras": cameras, "rate_hz": rate, "deadline_ms": round(1e3 / rate, 3),
        "mode": mode, "batched": batched, "unbatched": unbatched,
        "throughput_ratio": round(batched["useful_fps"] / max(unbatched["useful_fps"], 1e-9),
                                  3),
        "p99_ratio": round(batched["p99_ms"] / max(unbatched["p99_ms"], 1e-9), 3),
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    modes = sorted({r["mode"] for r in results})
    figure, axes = plt.subplots(2, len(modes), figsize=(5 * len(modes), 7), squeeze=False)
    for column, mode in enumerate(modes):
        rows = [r for r in results if r["mode"] == mode]
        labels = [str(r["cameras"]) for r in rows]
        xs = range(len(rows))
        for row_index, (key, title) in enumerate((("useful_fps", "useful frames/s"),
                                                  ("p99_ms", "p99 latency (ms)"))):
            axis = axes[row_index][column]
            axis.bar([x - 0.2 for x in xs], [r["unbatched"][key] for r in rows], 0.4,
                     label="unbatched")
            axis.bar([x + 0.2 for x in xs], [r["batched"][key] for r in rows], 0.4,
                     label="batched")
            if key == "p99_ms":
                axis.plot(list(xs), [r["deadline_ms"] for r in rows], "r_", markersize=30,
                          label="deadline")
            axis.set_xticks(list(xs), labels)
            axis.set_xlabel("cameras into one detector")
            axis.set_title(f"{mode}: {title}")
            axis.legend(fontsize=8)
    figure.suptitle("deadline-bounded batching on the simulated AGX Orin (SSD-MobileNetV1 FP16)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--rate", type=float, default=60.0, help="camera rate, Hz")
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--modes", nargs="+", default=["15W", "40W"])
    parser.add_argument("--out", type=Path, default=RESULTS / "batching.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as cache:
        for mode in args.modes:
            for cameras in args.cameras:
                result = compare(cameras, args.rate, mode, args.seconds, Path(cache))
                results.append(result)
                print(f"{mode} {cameras} cameras at {args.rate:g} Hz: useful "
                      f"{result['batched']['useful_fps']} vs {result['unbatched']['useful_fps']}"
                      f" frames/s (x{result['throughput_ratio']}), p99 "
                      f"{result['batched']['p99_ms']} vs {result['unbatched']['p99_ms']} ms, "
                      f"batches {result['batched']['batches']}", flush=True)
    report = {"benchmark": "batching", "edge_runtime": __version__,
              "host": platform.platform(), "simulated_device": "jetson-agx-orin-32gb",
              "priced_as": "ssd_mobilenet_v1 fp16", "seconds": args.seconds,
              "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
