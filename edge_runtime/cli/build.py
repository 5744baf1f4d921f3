"""``edge-runtime build RECIPE``: build an engine (or find it in the cache) and describe it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from edge_runtime.cli.options import (
    add_backend_option,
    add_cache_option,
    add_json_option,
    console,
)
from edge_runtime.config.loading import load_power_profile, load_recipe
from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.engines.backends.mock import effective_precision
from edge_runtime.engines.base import BuildResult
from edge_runtime.engines.cache import EngineCache
from edge_runtime.engines.registry import EngineContext, build_engine, resolve_backend
from edge_runtime.fileio import atomic_write_text
from edge_runtime.sim.device_model import Lane
from edge_runtime.sim.jetson import SimulatedJetson


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("build", help="build an engine from a recipe",
                                 description="Build an engine from an engine recipe (or reuse "
                                             "the cached one) and print what it is.")
    parser.add_argument("recipe", help="engine recipe YAML (engines/*.yaml)")
    add_backend_option(parser)
    parser.add_argument("--device", default="jetson-agx-orin-32gb",
                        help="module the simulated Jetson models (mock backend)")
    parser.add_argument("--force", action="store_true", help="rebuild even on a cache hit")
    add_cache_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=handle)


def latency_by_mode(result: BuildResult, device: SimulatedJetson) -> dict[str, float]:
    """The simulated Jetson's latency estimate for the engine in every power mode (ms)."""
    cost = result.artifact.manifest.cost_profile()
    if cost is None:
        return {}
    precision = effective_precision(EngineRecipe.model_validate(result.artifact.manifest.recipe))
    lane = Lane(result.artifact.manifest.lane)
    return {mode.label: round(device.model.latency_s(cost, mode, lane, precision) * 1e3, 4)
            for mode in device.profile.modes}


def handle(args: argparse.Namespace) -> int:
    out = console()
    recipe = load_recipe(args.recipe)
    device = SimulatedJetson(load_power_profile(args.device))
    context = EngineContext(cache=EngineCache(args.cache_dir), device=device)
    backend = resolve_backend(args.backend, recipe)
    with out.status(f"building {recipe.name} ({backend.value})"):
        result = build_engine(recipe, backend, context, force=args.force,
                              progress=out.log)
    manifest = result.artifact.manifest
    cost = manifest.cost_profile()
    summary: dict[str, Any] = {
        "engine": manifest.name, "backend": manifest.backend, "lane": manifest.lane,
        "precision": manifest.precision, "cache_hit": result.cache_hit,
        "seconds": round(result.seconds, 4), "key": manifest.key,
        "plan_bytes": manifest.plan_bytes,
        "gmacs": round(cost.total_macs / 1e9, 4) if cost else None,
        "inputs": [s.describe() for s in manifest.inputs],
        "outputs": [s.describe() for s in manifest.outputs],
        "latency_ms_by_mode": latency_by_mode(result, device),
        "notes": manifest.notes,
    }
    table = Table(title=f"engine {manifest.name}", show_header=False)
    for key, value in summary.items():
        if key == "latency_ms_by_mode":
            latencies = ", ".join(f"{m} {v:.3f} ms" for m, v in value.items()) or "-"
            table.add_row(f"latency ({device.name})", latencies)
        else:
            table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    out.print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n")
    return 0
