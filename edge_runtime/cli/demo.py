"""``edge-runtime demo``: four cameras on a simulated AGX Orin 32GB, 40 W then 15 W.

A critical 30 Hz front detector with a 33 ms deadline, two 15 Hz side cameras sharing one
detector engine and a best-effort rear detector share one simulated module; halfway through,
the module drops from 40 W to 15 W, and the planner moves the rear detector from the GPU to a
DLA (its variant), which the live table and the summary show with the reason.

By default the demo runs on the simulated clock, paced to real time: the Jetson's timeline
(queues, lanes, latencies per power mode) is simulated exactly, while every output is computed
for real on this CPU and scored. ``--clock wall`` runs the same pipelines on real threads, where
the latencies measured are this host's rather than the Jetson's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_runtime.cli.run import add_run_options, execute, request_from
from edge_runtime.config.assets import pipelines_dir

DEMO_SET = "demo.yaml"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("demo", help="run the demo on a simulated AGX Orin",
                                 description=__doc__)
    parser.add_argument("--pipelines", type=Path, default=None,
                        help=f"pipeline set to run (default: the bundled {DEMO_SET})")
    add_run_options(parser, duration=20.0, json_default=Path("demo-summary.json"), clock="sim",
                    pace=1.0)
    parser.set_defaults(handler=handle, power="40W", switch=None)


def handle(args: argparse.Namespace) -> int:
    if not args.switch:
        args.switch = ["15W@half"]
    if args.plot is None:
        args.plot = args.json.with_suffix(".png") if args.json else None
    execute(args.pipelines or pipelines_dir() / DEMO_SET, request_from(args), args.json,
            args.plot)
    return 0
