"""Length-aware batching of operator commands against pad-to-max batching and batch 1.

The command pipeline (the bundled intent-and-slot transformer, real onnxruntime on this CPU,
the runtime's own scheduler and lanes on the wall clock) takes commands pushed at Poisson
arrivals from the command world (its length distribution: median 7 words, a long tail to 40),
with a 150 ms deadline. Three runs per arrival rate differ only in ``preprocess.batching``:
``by_length`` (scheduler rule 12: similar lengths together, padded to the batch's longest),
``pad_to_max`` (oldest first, every batch padded to 64 tokens: a fixed-shape engine or server)
and ``none`` (one command per run). Reported per policy and rate: commands out per second,
p99 latency, deadline misses and drops, padding fraction (padded tokens / all tokens fed),
batch-size and length histograms; and per policy its *sustained throughput*: the highest
rate whose p99 stays within the bound with under 1 % of commands missed or dropped.

    python -m bench.seqlen [--rates 200 400 800 1600 2400] [--seconds 6]

Writes ``bench/results/seqlen.json`` (and ``seqlen.png`` when matplotlib is present). Run it
on an idle machine: the figures are this host's CPU, not a module's.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.plotting import pyplot
from edge_runtime import Runtime, RuntimeOptions, __version__
from edge_runtime.config.assets import models_dir
from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.config.recipe import BackendName
from edge_runtime.fileio import atomic_write_text
from edge_runtime.synthetic.commands import CommandGenerator

RESULTS = Path(__file__).resolve().parent / "results"
POLICIES = ("by_length", "pad_to_max", "none")
BOUND_MS = 150.0
#: Share of commands that may miss or be dropped at a sustained rate.
LOSS_LIMIT = 0.01
RECIPE = """\
onnx: {onnx}
precision: fp32
max_batch: 8
inputs:
  input_ids: {{min: [1, 2], opt: [4, 16], max: [8, 64]}}
  attention_mask: {{min: [1, 2], opt: [4, 16], max: [8, 64]}}
"""
SET = """\
device: jetson-agx-orin-32gb
pipelines:
  - name: commands
    source: {{type: external}}
    preprocess: {{type: tokens, tokenizer: {tokenizer}, max_length: 64, batching: {policy}}}
    engine: nlu.yaml
    postprocess: {{type: commands}}
    priority: high
    deadline_ms: {bound}
    queue_depth: 64
"""


def write_set(folder: Path, policy: str) -> Path:
    (folder / "nlu.yaml").write_text(RECIPE.format(onnx=models_dir() / "commands_nlu.onnx"),
                                     encoding="utf-8")
    path = folder / f"{policy}.yaml"
    path.write_text(SET.format(tokenizer=models_dir() / "commands_tokenizer.json",
                               policy=policy, bound=BOUND_MS), encoding="utf-8")
    return path


def push_poisson(runtime: Runtime, rate: float, seconds: float, seed: int) -> int:
    """Push commands at Poisson arrivals of ``rate`` per second for ``seconds``. The
    commands and their arrival times are drawn first: the generator stands for the speech
    recogniser, which runs elsewhere, so its work is not charged to the runtime."""
    rng = np.random.default_rng(seed)
    generator = CommandGenerator(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, int(rate * seconds * 1.5) + 16))
    arrivals = arrivals[arrivals < seconds]
    commands = [generator.command(index) for index in range(len(arrivals))]
    start = time.monotonic()
    for at, command in zip(arrivals.tolist(), commands, strict=True):
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        runtime.push("commands", command.text, stamp=at, truth=command)
    return len(commands)


def one_run(folder: Path, policy: str, rate: float, seconds: float) -> dict[str, Any]:
    loaded = load_pipeline_set(write_set(folder, policy))
    runtime = Runtime(loaded, clock="wall", options=RuntimeOptions(
        backend=BackendName.ONNXRUNTIME, cache_dir=folder / "cache"))
    runtime.configure()
    runtime.activate()
    done = threading.Event()
    pushed = push_poisson(runtime, rate, seconds, seed=int(rate))
    done.set()
    time.sleep(0.5)  # the last commands finish
    summary = runtime.deactivate().to_dict()
    runtime.shutdown()
    (row,) = summary["pipelines"]["commands"].values()
    frames = int(row["frames"])
    lost = pushed - frames + int(row["deadline_misses"])
    return {
        "policy": policy, "rate": rate, "pushed": pushed, "frames": frames,
        "throughput": round(frames / seconds, 2), "p99_ms": row["p99_ms"],
        "p50_ms": row["p50_ms"], "deadline_misses": row["deadline_misses"],
        "drops": row["drops"] + row["late_drops"], "lost_fraction": round(lost / pushed, 4),
        "padding_fraction": row.get("padding_fraction"), "lengths": row.get("lengths"),
        "intent_accuracy": row.get("intent_accuracy"), "slot_f1": row.get("slot_f1"),
        "batches": summary["batches"].get("commands_nlu", {}),
    }


def sustained(runs: list[dict[str, Any]]) -> float:
    """The highest rate a policy carried within the bound (see the module docstring)."""
    carried = [r["throughput"] for r in runs
               if r["p99_ms"] is not None and r["p99_ms"] <= BOUND_MS
               and r["lost_fraction"] <= LOSS_LIMIT]
    return max(carried, default=0.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[200, 400, 800, 1600, 2400])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "seqlen.json")
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in args.rates:
            for policy in POLICIES:
                folder = Path(tmp) / f"{policy}-{rate:g}"
                folder.mkdir()
                run = one_run(folder, policy, rate, args.seconds)
                runs.append(run)
                print(f"{policy:>10} at {rate:6.0f}/s: {run['throughput']:7.1f}/s out, "
                      f"p99 {run['p99_ms']} ms, lost {run['lost_fraction']:.1%}, "
                      f"padding {run['padding_fraction']}", flush=True)
    best = {p: sustained([r for r in runs if r["policy"] == p]) for p in POLICIES}
    result = {
        "benchmark": "seqlen", "version": __version__, "host": platform.processor() or
        platform.machine(), "bound_ms": BOUND_MS, "loss_limit": LOSS_LIMIT,
        "seconds_per_run": args.seconds, "sustained_throughput": best,
        "ratio_by_length_over_pad_to_max": round(best["by_length"] / best["pad_to_max"], 3)
        if best["pad_to_max"] else None,
        "ratio_by_length_over_batch_1": round(best["by_length"] / best["none"], 3)
        if best["none"] else None,
        "runs": runs,
    }
    from bench.seqlen_int8 import compare

    result["int8"] = compare(args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    plot(result, args.out.with_suffix(".png"))


def plot(result: dict[str, Any], path: Path) -> None:
    """Throughput out and padding fraction against the offered rate, per policy."""
    plt = pyplot()
    if plt is None:
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for policy in POLICIES:
        runs = [r for r in result["runs"] if r["policy"] == policy]
        rates = [r["rate"] for r in runs]
        left.plot(rates, [r["throughput"] for r in runs], marker="o", label=policy)
        right.plot(rates, [100 * (r["padding_fraction"] or 0.0) for r in runs], marker="o",
                   label=policy)
    left.plot(rates, rates, color="grey", linestyle=":", label="offered")
    left.set(xlabel="commands offered / s", ylabel="commands out / s",
             title=f"throughput (p99 bound {result['bound_ms']:g} ms)")
    right.set(xlabel="commands offered / s", ylabel="padded tokens / all tokens (%)",
              title="padding fraction")
    left.legend()
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
