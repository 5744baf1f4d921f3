"""How fast ``edge-runtime plan`` simulates: simulated seconds per wall-clock second.

The planner's simulation of a pipeline set (``pipelines/demo.yaml`` by default) is run exactly
as the command runs it (:func:`edge_runtime.cli.plan.simulate`: the runtime, scheduler and
planner on the simulated clock, flat out, with mock engines and stand-ins for the host work no
figure depends on), in every power mode of the set's device, for ``--duration`` simulated
seconds per mode. Measured per mode: the wall time from activate to deactivate (planning the
mode, the run, the summary), so the ratio is simulated seconds / those wall seconds; overall:
all modes' simulated seconds / all modes' wall seconds. Engines are built (or loaded from the
cache) before any clock starts; that time is reported apart (``configure_s``), as is the whole
command's time. Each round repeats the whole simulation; medians over rounds are reported.

The target is a ratio of at least 200 overall (a 20 s plan of four modes in under half a
second of simulation).

    python -m bench.planner_speed [--pipelines pipelines/demo.yaml] [--duration 20] [--rounds 5]

Writes ``bench/results/planner_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from edge_runtime import __version__
from edge_runtime.cli.plan import DEFAULT_DURATION_S, load_for_planning, simulate
from edge_runtime.config.assets import pipelines_dir
from edge_runtime.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 200.0


def one_round(pipelines: Path, duration_s: float, cache_dir: Path | None) -> dict[str, Any]:
    """One whole simulation: per mode simulated and wall seconds, and the command's total."""
    loaded = load_for_planning(pipelines)
    started = time.perf_counter()
    report = simulate(loaded, loaded.profile.modes, duration_s, cache_dir)
    total_s = time.perf_counter() - started
    modes = {r.mode.label: {"simulated_s": r.simulated_s, "wall_s": r.wall_s, "fits": r.fits}
             for r in report.modes}
    simulating_s = sum(m["wall_s"] for m in modes.values())
    return {"modes": modes, "simulating_s": simulating_s, "total_s": total_s,
            "configure_s": total_s - simulating_s}


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    labels = list(rounds[0]["modes"])
    per_mode = {}
    for label in labels:
        runs = [r["modes"][label] for r in rounds]
        ratios = [m["simulated_s"] / m["wall_s"] for m in runs if m["wall_s"] > 0]
        per_mode[label] = {
            "simulated_s": runs[0]["simulated_s"], "fits": runs[0]["fits"],
            "wall_s": [round(m["wall_s"], 4) for m in runs],
            "ratio_median": round(statistics.median(ratios), 1) if ratios else None,
        }
    simulated = sum(rounds[0]["modes"][label]["simulated_s"] for label in labels)
    overall = [simulated / r["simulating_s"] for r in rounds]
    end_to_end = [simulated / r["total_s"] for r in rounds]
    ratio = round(statistics.median(overall), 1)
    return {
        "modes": per_mode,
        "simulated_s_total": simulated,
        "overall_ratio": [round(x, 1) for x in overall],
        "overall_ratio_median": ratio,
        "configure_s_median": round(statistics.median(r["configure_s"] for r in rounds), 3),
        "end_to_end_ratio_median": round(statistics.median(end_to_end), 1),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pipelines", type=Path, default=pipelines_dir() / "demo.yaml")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="engine cache (default: the runtime's)")
    parser.add_argument("--out", type=Path, default=RESULTS / "planner_speed.json")
    args = parser.parse_args()
    one_round(args.pipelines, 1.0, args.cache_dir)  # builds the engines, warms imports
    rounds = [one_round(args.pipelines, args.duration, args.cache_dir)
              for _ in range(args.rounds)]
    result = {
        "benchmark": "planner_speed",
        "what": "simulated seconds per wall-clock second of edge-runtime plan's simulation",
        "pipelines": str(args.pipelines.name), "duration_s_per_mode": args.duration,
        "rounds": args.rounds, **summarise(rounds),
        "version": __version__,
        "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                    "machine": platform.machine(), "cores": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("overall_ratio_median", "target_ratio",
                                             "target_met")}))
    for label, mode in result["modes"].items():
        print(f"{label}: {mode['ratio_median']}x")


if __name__ == "__main__":
    main()
