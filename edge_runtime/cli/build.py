"""``edge-runtime build RECIPE`` or ``build --onnx MODEL.onnx``: optimise, build, prove, cache.

Progress bars for calibration and evaluation; a final table (precision, size, latency estimate
per power mode, accuracy against FP32); exit status 3 when the accuracy gate fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from edge_runtime.cli.options import (
    add_backend_option,
    add_cache_option,
    add_json_option,
    console,
)
from edge_runtime.cli.progress import RichProgress
from edge_runtime.cli.shape_flags import input_profiles
from edge_runtime.config.loading import load_pipeline_set, load_power_profile, load_recipe
from edge_runtime.config.power import PowerProfile
from edge_runtime.config.recipe import EngineRecipe, Precision, Sparsity
from edge_runtime.config.validation import describe as describe_error
from edge_runtime.config.validation import first_error
from edge_runtime.config.yaml_source import format_key_path
from edge_runtime.engines.backends.mock import effective_precision
from edge_runtime.engines.base import BuildResult
from edge_runtime.engines.cache import EngineCache
from edge_runtime.engines.registry import EngineContext, build_engine, resolve_backend
from edge_runtime.errors import EXIT_GATE_FAILED, GateFailedError, UserError
from edge_runtime.fileio import atomic_write_text
from edge_runtime.graph.analysis import graph_inputs, load_model
from edge_runtime.optimize.data import PipelineData
from edge_runtime.sim.device_model import Lane
from edge_runtime.sim.jetson import SimulatedJetson


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "build", help="build an engine from a recipe or an ONNX model",
        description="Optimise (2:4 pruning, INT8 calibration and Q/DQ), prove the result "
                    "against FP32, build the engine and cache it.")
    parser.add_argument("recipe", nargs="?", help="engine recipe YAML (engines/*.yaml)")
    parser.add_argument("--onnx", type=Path, default=None,
                        help="build an ONNX model without a recipe (defaults for the rest)")
    parser.add_argument("--precision", choices=[p.value for p in Precision], default=None,
                        help="override the recipe's precision")
    for alias in ("fp16", "int8", "best"):  # trtexec's spellings
        parser.add_argument(f"--{alias}", action="store_true",
                            help=f"the same as --precision {alias} (as in trtexec)")
    parser.add_argument("--shapes", default=None, metavar="NAME:DIMS[,...]",
                        help="fixed input shapes, trtexec's spelling: --shapes=x:1x3x480x640")
    for flag, what in (("minShapes", "smallest"), ("optShapes", "optimal"),
                       ("maxShapes", "largest")):
        parser.add_argument(f"--{flag}", dest=flag.lower(), default=None,
                            metavar="NAME:DIMS[,...]",
                            help=f"the {what} shapes of a dynamic-shape profile (as trtexec)")
    parser.add_argument("--sparsity", choices=[s.value for s in Sparsity], default=None,
                        help="override the recipe's sparsity")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="calibration and evaluation data: an image directory, an "
                             ".npy/.npz of frames, or an .npz of tensors named like the inputs")
    parser.add_argument("--max-drop", type=float, default=None, metavar="POINTS",
                        help="accuracy gate: largest drop against FP32, in points")
    parser.add_argument("--pipelines", type=Path, default=None,
                        help="pipeline set whose frames feed calibration (source: pipeline)")
    parser.add_argument("--pipeline", default=None,
                        help="which pipeline of --pipelines (default: the first using this "
                             "recipe)")
    add_backend_option(parser)
    parser.add_argument("--device", default="jetson-agx-orin-32gb",
                        help="module the simulated Jetson models (latency estimates)")
    parser.add_argument("--force", action="store_true", help="rebuild even on a cache hit")
    parser.add_argument("--export", type=Path, default=None, metavar="DIR",
                        help="copy the plan, manifest and produced files (Q/DQ model, "
                             "TensorRT calibration cache) into DIR")
    add_cache_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=handle)


def recipe_from(args: argparse.Namespace) -> EngineRecipe:
    """The recipe to build: a file, or defaults around --onnx; then the flags' overrides."""
    if (args.recipe is None) == (args.onnx is None):
        raise UserError("give a recipe file or --onnx MODEL.onnx (one of the two)")
    if args.onnx is not None:
        if not args.onnx.is_file():
            raise UserError(f"ONNX file not found: {args.onnx}", key="--onnx")
        base: dict[str, Any] = {"onnx": args.onnx.resolve(), "name": args.onnx.stem}
    else:
        base = load_recipe(args.recipe).model_dump()
    precision = precision_flag(args)
    if precision:
        base["precision"] = precision
    profiles = input_profiles(args.shapes, args.minshapes, args.optshapes, args.maxshapes)
    if profiles:
        base["inputs"] = {**(base.get("inputs") or {}), **profiles}
    if args.onnx is not None and precision == Precision.INT8.value and not args.data:
        raise UserError(no_int8_data_message(args.onnx), key="--data")
    if args.sparsity:
        base["sparsity"] = args.sparsity
    if args.max_drop is not None:
        base["max_accuracy_drop"] = args.max_drop
    if args.data:
        path = Path(args.data).resolve()
        if not path.exists():
            raise UserError(f"data not found: {path}", key="--data")
        base["calibration"] = {**base.get("calibration", {}), "data": str(path)}
        base["evaluation"] = {**base.get("evaluation", {}), "data": str(path)}
    try:
        return EngineRecipe.model_validate(base)
    except ValidationError as exc:
        first = first_error(exc.errors(include_url=False))
        flag = FLAG_OF_KEY.get(str(first["loc"][0]) if first["loc"] else "")
        raise UserError(describe_error(first, EngineRecipe),
                        key=flag or format_key_path(first["loc"])) from None


def precision_flag(args: argparse.Namespace) -> str | None:
    """``--precision``, or its trtexec alias (``--int8 --fp16`` together is int8, which keeps
    FP16 for the layers INT8 does not suit, as trtexec does)."""
    alias = next((name for name in ("best", "int8", "fp16") if getattr(args, name)), None)
    if args.precision and alias and alias != args.precision:
        raise UserError(f"--{alias} and --precision {args.precision} disagree; give one",
                        key="--precision")
    return str(args.precision or alias) if (args.precision or alias) else None


def no_int8_data_message(onnx: Path) -> str:
    """What an INT8 build of a bare ONNX needs, with the model's input names."""
    names = ", ".join(spec.name for spec in graph_inputs(load_model(onnx.read_bytes(), onnx)))
    return (f"an INT8 build of {onnx.name} needs calibration data: --data DIR (a directory "
            "of images), --data frames.npy or frames.npz (frames, N x H x W x C), or --data "
            f"tensors.npz (arrays named like the inputs: {names}); or build --fp16")


#: The recipe key each override flag sets: a bad value is the flag's (pydantic's own text of a
#: ValidationError is several lines, ending in a URL).
FLAG_OF_KEY = {"precision": "--precision", "sparsity": "--sparsity", "inputs": "--shapes",
               "max_accuracy_drop": "--max-drop", "calibration": "--data",
               "evaluation": "--data"}


def device_profile(device: str) -> PowerProfile:
    """The --device profile; an unknown name is the flag's mistake (a profile YAML's own
    mistakes name that file)."""
    try:
        return load_power_profile(device)
    except UserError as exc:
        if exc.file is not None:
            raise
        raise UserError(exc.message, key="--device") from None


def pipeline_data(args: argparse.Namespace, recipe: EngineRecipe) -> PipelineData | None:
    if args.pipelines is None:
        return None
    loaded = load_pipeline_set(args.pipelines)
    for pipeline in loaded.config.pipelines:
        same = Path(loaded.recipes[pipeline.name].onnx) == Path(recipe.onnx)
        if pipeline.name == args.pipeline or (args.pipeline is None and same):
            return PipelineData(pipeline.source, pipeline.preprocess, pipeline.postprocess)
    raise UserError(f"no pipeline {args.pipeline or 'using ' + str(recipe.onnx)} in "
                    f"{args.pipelines}", key="--pipeline")


def latency_by_mode(result: BuildResult, device: SimulatedJetson) -> dict[str, float]:
    """The simulated Jetson's latency estimate for the engine in every power mode (ms)."""
    cost = result.artifact.manifest.cost_profile()
    if cost is None:
        return {}
    precision = effective_precision(EngineRecipe.model_validate(result.artifact.manifest.recipe))
    lane = Lane(result.artifact.manifest.lane)
    return {mode.label: round(device.model.latency_s(cost, mode, lane, precision) * 1e3, 4)
            for mode in device.profile.modes}


def describe(result: BuildResult, device: SimulatedJetson) -> dict[str, Any]:
    manifest = result.artifact.manifest
    cost = manifest.cost_profile()
    return {
        "engine": manifest.name, "backend": manifest.backend, "lane": manifest.lane,
        "precision": manifest.precision, "cache_hit": result.cache_hit,
        "seconds": round(result.seconds, 4), "key": manifest.key,
        "plan_bytes": manifest.plan_bytes,
        "gmacs": round(cost.total_macs / 1e9, 4) if cost else None,
        "inputs": [s.describe() for s in manifest.inputs],
        "outputs": [s.describe() for s in manifest.outputs],
        "latency_ms_by_mode": latency_by_mode(result, device),
        "accuracy": manifest.accuracy,
        "sparsity": manifest.sparsity_report,
        "files": sorted(manifest.files),
        "notes": manifest.notes,
    }


def _accuracy_line(accuracy: dict[str, Any] | None) -> str:
    if not accuracy:
        return "-"
    label = {"top1": "top-1", "map50": "mAP@0.5", "agreement": "output agreement"}
    figures = accuracy.get("figures") or {}
    names = {"intent_accuracy": "intent", "slot_f1": "slot F1"}
    if figures:  # several figures gated together: each one's fp32 -> candidate, the worse drop
        scores = " / ".join(f"{names.get(n, n)} {f['fp32']:.2f} -> {f['candidate']:.2f}"
                            for n, f in figures.items())
        head = f"fp32 -> {accuracy['precision']}: {scores} (worse drop {accuracy['drop']:.2f} "
    else:
        head = (f"{label.get(accuracy['metric'], accuracy['metric'])} {accuracy['fp32']:.2f} "
                f"fp32 -> {accuracy['candidate']:.2f} {accuracy['precision']} (drop "
                f"{accuracy['drop']:.2f} ")
    text = (f"{head}pt{'' if accuracy['limit'] is None else ', limit ' + str(accuracy['limit'])}"
            f"; {accuracy['frames']} frames)")
    if accuracy["kept_high_precision"]:
        text += f"; kept in float: {', '.join(accuracy['kept_high_precision'])}"
    cosines = ", ".join(f"{o['name']} cos {o['mean_cosine']:.4f} max|err| {o['max_abs_error']:.3g}"
                        for o in accuracy["outputs"])
    return f"{text}\n{cosines}"


def table(summary: dict[str, Any], device: SimulatedJetson) -> Table:
    result = Table(title=f"engine {summary['engine']}", show_header=False)
    result.add_column("what", style="bold")
    result.add_column("value", overflow="fold")
    state = "cache hit" if summary["cache_hit"] else "built"
    result.add_row("backend", f"{summary['backend']} on {summary['lane']} ({state} in "
                              f"{summary['seconds']:.2f} s)")
    result.add_row("precision", summary["precision"])
    result.add_row("size", f"{summary['plan_bytes'] / 1024:.0f} KiB plan"
                           + (f", {summary['gmacs']} GMAC" if summary["gmacs"] else ""))
    latencies = summary["latency_ms_by_mode"]
    if latencies:
        result.add_row(f"latency ({device.name})",
                       ", ".join(f"{m} {v:.3f} ms" for m, v in latencies.items()))
    result.add_row("accuracy vs FP32", escape(_accuracy_line(summary["accuracy"])))
    if summary["sparsity"]:
        result.add_row("2:4 sparsity", str(summary["sparsity"].get("summary", "")))
    result.add_row("io", escape("\n".join(summary["inputs"] + summary["outputs"])))
    result.add_row("key", summary["key"])
    if summary["files"]:
        result.add_row("files", ", ".join(summary["files"]))
    if summary["notes"]:
        result.add_row("notes", escape("\n".join(summary["notes"])))
    return result


def export(result: BuildResult, cache: EngineCache, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for entry in cache.entry_dir(result.artifact.manifest.key).iterdir():
        shutil.copy2(entry, directory / entry.name)


def handle(args: argparse.Namespace) -> int:
    out = console()
    recipe = recipe_from(args)
    device = SimulatedJetson(device_profile(args.device))
    context = EngineContext(cache=EngineCache(args.cache_dir), device=device)
    backend = resolve_backend(args.backend, recipe)
    progress = RichProgress(out)
    try:
        with progress.shown():
            result = build_engine(recipe, backend, context, force=args.force, progress=progress,
                                  pipeline=pipeline_data(args, recipe))
    except GateFailedError as exc:
        out.print(f"[bold red]accuracy gate failed[/]: {exc.message}")
        return EXIT_GATE_FAILED
    summary = describe(result, device)
    out.print(table(summary, device))
    if args.export is not None:
        export(result, context.cache, args.export)
        out.print(f"exported to {args.export}")
    if args.json:
        atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n")
    return 0
