"""INT8 (Q/DQ) against FP32 on onnxruntime's CPU kernels, and what 2:4 sparsity costs in accuracy.

Models: the bundled classifier (64x64, its real top-1 on held-out synthetic frames) and a
ResNet-style CNN at 224x224 generated in-repo (random weights: accuracy is agreement with its
own FP32 outputs). Both are calibrated and quantized by edge-runtime's own stages (one
onnxruntime calibration pass, symmetric per-channel Q/DQ, as a TensorRT build would use).
Throughput of FP32 and INT8 is measured alternately in the same process (rounds of a few
seconds each; medians), so machine noise hits both. Which INT8 kernels onnxruntime used is read
from the optimized graph it writes (fused QLinear* / *Integer ops) and the CPU's flags (its MLAS
library picks AVX-512 VNNI or AMX at run time).

    python -m bench.int8 [--seconds 4] [--rounds 3] [--threads 2]

Writes bench/results/int8.json and int8.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from bench.plotting import pyplot
from bench.resnet_style import resnet_style
from edge_runtime import __version__
from edge_runtime.config.recipe import CalibrationMethod
from edge_runtime.config.stages import (
    ClassificationPost,
    PreprocessConfig,
    SyntheticCameraSource,
)
from edge_runtime.fileio import atomic_write_text
from edge_runtime.graph.analysis import graph_inputs
from edge_runtime.optimize.accuracy import Evaluator
from edge_runtime.optimize.calibration import calibrate
from edge_runtime.optimize.data import ResolvedData, batched, fingerprint, load_samples
from edge_runtime.optimize.quantize import Activations, quantize
from edge_runtime.optimize.sparsity import prune_2_4
from edge_runtime.pipelines.postprocess import make_decoder

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = Path(__file__).resolve().parents[1] / "engines" / "models"


def camera(size: int, seed: int, resize: int, labelled: bool = True) -> ResolvedData:
    """Synthetic frames; ``labelled`` scores top-1 against the world's truth (the bundled
    classifier), otherwise agreement with FP32 (the random-weight CNN)."""
    return ResolvedData(
        SyntheticCameraSource(type="synthetic_camera", width=size, height=size, scene="single",
                              seed=seed),
        PreprocessConfig(resize=(resize, resize)),
        ClassificationPost(type="classification", top_k=1) if labelled else None)


def session(model: onnx.ModelProto, threads: int, dump: Path | None = None) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if dump is not None:
        options.optimized_model_filepath = str(dump)
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def throughput(sess: Any, feed: dict[str, np.ndarray[Any, Any]], seconds: float) -> float:
    for _ in range(5):
        sess.run(None, feed)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        sess.run(None, feed)
        done += 1
    return done / (time.perf_counter() - started)


def kernels(model: onnx.ModelProto, threads: int) -> dict[str, int]:
    """Op types in onnxruntime's optimized INT8 graph (what its kernels run)."""
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "optimized.onnx"
        session(model, threads, dump)
        optimized = onnx.load(str(dump))
    return dict(Counter(node.op_type for node in optimized.graph.node).most_common())


def measure(name: str, fp32: onnx.ModelProto, data: ResolvedData, calib_frames: int,
            eval_frames: int, args: argparse.Namespace) -> dict[str, Any]:
    inputs = graph_inputs(fp32)
    calib = load_samples(ResolvedData(data.source.model_copy(update={"seed": 5501}),
                                      data.preprocess, None), inputs, calib_frames)
    ranges = calibrate(fp32, batched(calib, 8, inputs), CalibrationMethod.ENTROPY, 99.99,
                       fingerprint(calib), len(calib))
    # the flavour an onnxruntime-on-x86 build runs (U8S8; see edge_runtime.optimize.quantize)
    int8, report = quantize(fp32, ranges, activations=Activations.UINT8)
    samples = load_samples(data, inputs, eval_frames)
    decoder = make_decoder(data.postprocess, [], None) if data.postprocess else None
    evaluator = Evaluator(fp32, samples, decoder)
    accuracy = evaluator.compare(int8, "int8")
    agreement = Evaluator(fp32, samples, None).compare(int8, "int8")
    feed = dict(samples[0].feed)
    fp32_session, int8_session = session(fp32, args.threads), session(int8, args.threads)
    fp32_rates, int8_rates = [], []
    for round_index in range(args.rounds):
        fp32_rates.append(throughput(fp32_session, feed, args.seconds))
        int8_rates.append(throughput(int8_session, feed, args.seconds))
        print(f"{name} round {round_index + 1}/{args.rounds}: fp32 {fp32_rates[-1]:.1f}/s, "
              f"int8 {int8_rates[-1]:.1f}/s")
    fp32_median, int8_median = statistics.median(fp32_rates), statistics.median(int8_rates)
    return {
        "inputs": [s.describe() for s in inputs],
        "int8_layers": len(report.int8), "float_layers": sorted(report.not_quantizable),
        "fp32_inferences_per_s": [round(v, 2) for v in fp32_rates],
        "int8_inferences_per_s": [round(v, 2) for v in int8_rates],
        "speedup_int8_over_fp32": round(int8_median / fp32_median, 3),
        "accuracy": accuracy.to_dict(),
        "output_agreement_cosine": agreement.outputs[0].mean_cosine,
        "int8_graph_ops": kernels(int8, args.threads),
    }


def sparse_drop(fp32: onnx.ModelProto, data: ResolvedData, frames: int,
                fine_tuned: Path | None = None) -> dict[str, Any]:
    """Accuracy of a 2:4 model against its dense FP32 model: the shipped fine-tuned one, and a
    magnitude-pruned one (no fine-tuning)."""
    samples = load_samples(data, graph_inputs(fp32), frames)
    decoder = make_decoder(data.postprocess, [], None) if data.postprocess else None
    evaluator = Evaluator(fp32, samples, decoder)
    results: dict[str, Any] = {}
    if fine_tuned is not None and fine_tuned.is_file():
        results["fine_tuned_2_4"] = evaluator.compare(onnx.load(str(fine_tuned)), "fp32+2:4") \
            .to_dict()
    pruned, report = prune_2_4(fp32)
    results["magnitude_pruned_2_4"] = evaluator.compare(pruned, "fp32+2:4").to_dict()
    results["pruned_layers"] = len(report.pruned_layers)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS / "int8.json")
    args = parser.parse_args()
    classifier = onnx.load(str(MODELS / "shapes_classifier.onnx"))
    cnn = resnet_style()
    cases = {
        "shapes_classifier": measure("classifier", classifier, camera(128, 7201, 64), 256, 1000,
                                     args),
        "resnet_style_224": measure("resnet_style", cnn, camera(224, 7202, 224, False), 64, 100,
                                    args),
    }
    sparsity = {"shapes_classifier": sparse_drop(classifier, camera(128, 7203, 64), 1000,
                                                 MODELS / "shapes_classifier_sparse.onnx"),
                "resnet_style_224": sparse_drop(cnn, camera(224, 7204, 224, False), 50)}
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    result = {
        "benchmark": "int8_vs_fp32_onnxruntime_cpu",
        "threads": args.threads, "seconds_per_run": args.seconds, "rounds": args.rounds,
        "cases": cases, "sparsity": sparsity,
        "cpu_int8_features": sorted({f for f in flags if f in (
            "avx512_vnni", "avx_vnni", "amx_int8", "amx_tile", "avx512f", "avx2")}),
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "cores": os.cpu_count()},
        "versions": {"edge_runtime": __version__, "onnxruntime": ort.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({name: {k: case[k] for k in ("speedup_int8_over_fp32",)}
                      | {"drop": case["accuracy"]["drop"], "metric": case["accuracy"]["metric"]}
                      for name, case in cases.items()}))
    plot(result, args.out.with_suffix(".png"))


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    cases = result["cases"]
    figure, (rate_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(cases)
    fp32 = [statistics.median(c["fp32_inferences_per_s"]) for c in cases.values()]
    int8 = [statistics.median(c["int8_inferences_per_s"]) for c in cases.values()]
    positions = np.arange(len(names))
    rate_ax.bar(positions - 0.2, fp32, 0.4, label="FP32", color="tab:gray")
    rate_ax.bar(positions + 0.2, int8, 0.4, label="INT8 (Q/DQ)", color="tab:green")
    rate_ax.set_xticks(positions, [f"{n}\nx{c['speedup_int8_over_fp32']:.2f}"
                                   for n, c in cases.items()])
    rate_ax.set_yscale("log")
    rate_ax.set_ylabel("inferences / s (batch 1)")
    rate_ax.legend()
    rate_ax.set_title(f"onnxruntime CPU, {result['threads']} threads")
    drops = [c["accuracy"]["drop"] for c in cases.values()]
    acc_ax.bar(names, drops, color="tab:orange")
    acc_ax.set_ylabel("accuracy drop vs FP32 (points)")
    acc_ax.set_title("INT8 accuracy drop (top-1 / agreement)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


if __name__ == "__main__":
    main()
