"""The command model in INT8, as the engine builder makes it, against FP32 on onnxruntime's CPU.

The INT8 model is what ``edge-runtime build engines/commands_nlu_int8.yaml --backend
onnxruntime`` produces - Q/DQ on every MatMul and Gemm, attention's two products included,
calibrated on the command world's seed 5301 and passed by the gate on seed 7301 - built here by
the real builder into a scratch cache, so the figures are those of the model a robot would run
rather than of a quantization done for the benchmark. (On x86 that is the U8S8 flavour, the one
onnxruntime's VNNI/AMX kernels run fast; see ``edge_runtime.optimize.quantize``.)

Accuracy: intent accuracy and span-level slot F1 of FP32 and INT8 on held-out commands (seed
7001 and on, the seed of ``engines/models/commands_nlu.metrics.json``; the calibration and the
gate never saw them), scored by the builder's own evaluator, with the drops in points.

Throughput: commands per second at batch 8 - consecutive commands of the command world (its
spoken-command lengths: median 7 words, a tail to 40), each batch padded to its own longest, as
the runtime pads a batch - in sessions made as the onnxruntime backend makes them. FP32 and
INT8 are measured alternately in rounds of ``seconds`` each (medians), so machine noise hits
both; the op types of onnxruntime's optimized INT8 graph show which INT8 kernels ran.

    python -m bench.seqlen_int8 [--seconds 3] [--rounds 3] [--threads N]

Writes ``bench/results/seqlen_int8.json``. ``compare()`` is what ``bench.seqlen`` embeds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from bench.int8 import kernels
from edge_runtime import __version__
from edge_runtime.config.loading import load_recipe
from edge_runtime.config.recipe import BackendName
from edge_runtime.config.stages import CommandsPost, TextCommandsSource, TokenizeConfig
from edge_runtime.engines.backends.onnxrt import make_session
from edge_runtime.engines.cache import EngineCache
from edge_runtime.engines.registry import EngineContext, build_engine
from edge_runtime.fileio import atomic_write_text
from edge_runtime.graph.analysis import graph_inputs
from edge_runtime.graph.metadata import model_labels
from edge_runtime.graph.tensors import Feed
from edge_runtime.optimize.accuracy import Evaluator
from edge_runtime.optimize.data import ResolvedData, batched, load_samples
from edge_runtime.pipelines.text import CommandDecoder, TokenInput

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = Path(__file__).resolve().parents[1] / "engines"
RECIPE = ENGINES / "commands_nlu_int8.yaml"
#: Held-out commands: the seed the model's published figures come from.
HELD_OUT_SEED = 7001
BATCH = 8
#: Commands cycled through in the throughput runs (64 batches of 8).
THROUGHPUT_COMMANDS = 512


def build_int8(cache: Path) -> tuple[onnx.ModelProto, onnx.ModelProto, dict[str, Any]]:
    """FP32 model, the builder's INT8 model (onnxruntime backend) and its manifest."""
    recipe = load_recipe(RECIPE)
    result = build_engine(recipe, BackendName.ONNXRUNTIME,
                          EngineContext(cache=EngineCache(cache)))
    artifact = result.artifact
    fp32 = onnx.load(str(recipe.onnx))
    return fp32, onnx.load_from_string(artifact.plan), artifact.manifest.model_dump(mode="json")


def held_out(fp32: onnx.ModelProto, seed: int = HELD_OUT_SEED
             ) -> tuple[ResolvedData, CommandDecoder]:
    """Commands the calibration and the gate never saw, and the decoder that scores them."""
    tokens = TokenizeConfig(type="tokens", tokenizer=ENGINES / "models" / "commands_tokenizer.json")
    post = CommandsPost(type="commands")
    decoder = CommandDecoder(post, TokenInput(tokens), model_labels(fp32, "intents"),
                             model_labels(fp32, "slot_tags"))
    return ResolvedData(TextCommandsSource(type="text_commands", seed=seed), tokens, post), decoder


def rate(session: Any, feeds: list[Feed], seconds: float) -> float:
    """Commands per second through ``session`` over ``feeds`` for about ``seconds``."""
    for feed in feeds[:4]:
        session.run(None, dict(feed))
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for feed in feeds:
            session.run(None, dict(feed))
            done += int(feed["input_ids"].shape[0])
    return done / (time.perf_counter() - started)


def compare(seconds: float = 3.0, *, rounds: int = 3, commands: int = 1000,
            threads: int | None = None) -> dict[str, Any]:
    """FP32 against the builder's INT8 command model: accuracy on ``commands`` held-out
    commands and throughput at batch 8 (``rounds`` alternating rounds of ``seconds``)."""
    threads = threads or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-seqlen-int8.") as scratch:
        fp32, int8, manifest = build_int8(Path(scratch))
    inputs = graph_inputs(fp32)
    data, decoder = held_out(fp32)
    samples = load_samples(data, inputs, max(commands, THROUGHPUT_COMMANDS))
    report = Evaluator(fp32, samples[:commands], decoder).compare(int8, "int8")
    feeds = batched(samples[:THROUGHPUT_COMMANDS], BATCH, inputs)
    masks = [np.asarray(f["attention_mask"]) for f in feeds]
    sessions = {name: make_session(model.SerializeToString(), ["CPUExecutionProvider"], threads)
                for name, model in (("fp32", fp32), ("int8", int8))}
    rates: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(rounds):
        for name, session in sessions.items():
            rates[name].append(rate(session, feeds, seconds))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    precisions = manifest.get("layer_precisions") or {}
    compute = [n.name for n in fp32.graph.node if n.op_type in ("MatMul", "Gemm")]
    return {
        "recipe": str(RECIPE.relative_to(ENGINES.parent)),
        "held_out": {"seed": HELD_OUT_SEED, "commands": report.frames},
        "fp32": {f.name: f.reference for f in report.figures},
        "int8": {f.name: f.candidate for f in report.figures},
        "drop_pt": {f.name: f.drop for f in report.figures},
        "worse_drop_pt": report.drop,
        "summary": report.summary(),
        "gate": manifest.get("accuracy"),
        "int8_matmuls": sum(precisions.get(n) == "int8" for n in compute),
        "matmuls": len(compute),
        "throughput": {
            "batch": BATCH, "commands": THROUGHPUT_COMMANDS, "threads": threads,
            "seconds_per_round": seconds, "rounds": rounds,
            "mean_padded_length": round(float(np.mean([m.shape[1] for m in masks])), 2),
            "padding_fraction": round(1.0 - float(sum(m.sum() for m in masks))
                                      / sum(m.size for m in masks), 4),
            "fp32_commands_per_s": [round(v, 1) for v in rates["fp32"]],
            "int8_commands_per_s": [round(v, 1) for v in rates["int8"]],
        },
        "speedup_int8_over_fp32": round(medians["int8"] / medians["fp32"], 3),
        "int8_graph_ops": kernels(int8, threads),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS / "seqlen_int8.json")
    args = parser.parse_args(argv)
    result = {"benchmark": "seqlen_int8", **compare(args.seconds, rounds=args.rounds,
                                                    commands=args.commands,
                                                    threads=args.threads),
              "machine": {"python": platform.python_version(), "machine": platform.machine(),
                          "host": platform.processor() or platform.machine(),
                          "cores": os.cpu_count()},
              "versions": {"edge_runtime": __version__, "onnxruntime": ort.__version__}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("summary", "fp32", "int8", "drop_pt",
                                             "speedup_int8_over_fp32")}, indent=2))


if __name__ == "__main__":
    main()
