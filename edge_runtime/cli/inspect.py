"""``edge-runtime inspect MODEL_OR_ENGINE``: what an ONNX model or a built engine is.

For an ONNX model: inputs, outputs, opset, size of the work, Q/DQ or not, and per layer whether
its weights are 2:4-sparse (and if 2:4 does not apply, why). For an engine (a cache key, a cache
entry directory or its manifest.json): the manifest, with per-layer precision, the accuracy
report against FP32 and the sparsity report; for plans that are ONNX (mock, onnxruntime), the
2:4 check of the plan itself.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from edge_runtime.cli.options import add_cache_option, add_json_option, console
from edge_runtime.engines.cache import MANIFEST_FILE, PLAN_FILE, EngineCache
from edge_runtime.errors import UserError
from edge_runtime.fileio import atomic_write_text
from edge_runtime.graph.analysis import (
    UnresolvedShapeError,
    analyse,
    graph_inputs,
    graph_outputs,
    load_model,
    resolve_input_shapes,
)
from edge_runtime.optimize.sparsity import check_sparsity


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "inspect", help="describe an ONNX model or a built engine (2:4 check per layer)",
        description=__doc__)
    parser.add_argument("target", help="an .onnx file, an engine cache key, a cache entry "
                                       "directory or a manifest.json")
    add_cache_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=handle)


def inspect_onnx(path: Path) -> dict[str, Any]:
    model = load_model(path.read_bytes(), path)
    info: dict[str, Any] = {
        "kind": "onnx", "path": str(path),
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [s.describe() for s in graph_inputs(model)],
        "outputs": [s.describe() for s in graph_outputs(model)],
        "ops": dict(Counter(node.op_type for node in model.graph.node).most_common()),
        "quantized": any(n.op_type == "DequantizeLinear" for n in model.graph.node),
        "metadata": {p.key: p.value for p in model.metadata_props},
    }
    try:
        cost = analyse(model, resolve_input_shapes(model, {}))
        info["gmacs"] = round(cost.total_macs / 1e9, 4)
    except UnresolvedShapeError as exc:
        info["gmacs"] = f"unknown (input {exc.input_name} has dynamic dimensions {exc.dims})"
    info["sparsity"] = check_sparsity(model).to_dict()
    return info


def _engine_dir(target: str, cache: EngineCache) -> Path | None:
    path = Path(target)
    if path.name == MANIFEST_FILE and path.is_file():
        return path.parent
    if path.is_dir() and (path / MANIFEST_FILE).is_file():
        return path
    if not path.exists() and (cache.entry_dir(target) / MANIFEST_FILE).is_file():
        return cache.entry_dir(target)
    return None


def inspect_engine(entry: Path) -> dict[str, Any]:
    manifest = json.loads((entry / MANIFEST_FILE).read_text(encoding="utf-8"))
    info: dict[str, Any] = {"kind": "engine", "path": str(entry), "manifest": manifest}
    plan = entry / PLAN_FILE
    if manifest.get("backend") in ("mock", "onnxruntime") and plan.is_file():
        info["sparsity"] = check_sparsity(load_model(plan.read_bytes(), plan)).to_dict()
    return info


def sparsity_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"2:4 sparsity: {report['summary']}")
    for column in ("layer", "op", "weight shape", "zeros", "2:4", "why not"):
        table.add_column(column, overflow="fold")
    for layer in report["layers"]:
        zeros = "-" if layer["zero_fraction"] is None else f"{layer['zero_fraction']:.0%}"
        verdict = "yes" if layer["is_2_4"] else ("no" if layer["applies"] else "n/a")
        why = layer["detail"] or (layer["reason"] or "")
        table.add_row(escape(layer["node"]), layer["op"], "x".join(map(str, layer["shape"])),
                      zeros, verdict, escape(why))
    return table


def handle(args: argparse.Namespace) -> int:
    out = console()
    path = Path(args.target)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise UserError("file not found (check the path)", file=path)
        info = inspect_onnx(path)
        summary = Table(title=f"ONNX {path.name}", show_header=False)
        for key in ("opsets", "producer", "inputs", "outputs", "gmacs", "quantized", "ops"):
            value = info[key]
            text = "\n".join(value) if isinstance(value, list) else str(value)
            summary.add_row(key, escape(text))
        out.print(summary)
    else:
        entry = _engine_dir(args.target, EngineCache(args.cache_dir))
        if entry is None:
            raise UserError(f"{args.target}: not an .onnx file, an engine cache key, a cache "
                            "entry directory or a manifest.json")
        info = inspect_engine(entry)
        manifest = info["manifest"]
        summary = Table(title=f"engine {manifest['name']} ({manifest['key']})", show_header=False)
        for key in ("backend", "backend_version", "device", "precision", "sparsity", "lane",
                    "target", "plan_bytes", "created_utc", "notes"):
            summary.add_row(key, escape(str(manifest.get(key))))
        if manifest.get("layer_precisions"):
            counts = Counter(manifest["layer_precisions"].values())
            summary.add_row("layer precisions", ", ".join(f"{n} {p}" for p, n in counts.items()))
        if manifest.get("accuracy"):
            accuracy = manifest["accuracy"]
            summary.add_row("accuracy vs FP32", f"{accuracy['metric']} {accuracy['fp32']:.2f} -> "
                                                f"{accuracy['candidate']:.2f}, drop "
                                                f"{accuracy['drop']:.2f} pt")
        out.print(summary)
    if "sparsity" in info:
        out.print(sparsity_table(info["sparsity"]))
    if args.json:
        atomic_write_text(args.json, json.dumps(info, indent=2, default=str) + "\n")
    return 0



