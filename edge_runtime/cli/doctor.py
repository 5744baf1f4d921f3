"""``edge-runtime doctor [--json] [PIPELINES]``: a checklist of what this machine has.

The checks live in :mod:`edge_runtime.doctor`; this module only formats them. Exit status 0
when everything the work needs is present (PIPELINES, or without it the simulated backend),
1 otherwise; a pipeline file that does not load is a user error (exit 2) as everywhere else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.table import Table
from rich.text import Text

from edge_runtime.cli.options import BACKEND_CHOICES, add_cache_option, console
from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.config.recipe import BackendName
from edge_runtime.doctor import Check, Host, diagnose, ready
from edge_runtime.engines.cache import default_cache_dir

MARKS = {True: "✅", False: "❌", None: "➖"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "doctor", help="check what this machine has for a pipeline set",
        description="Check Python, onnxruntime, TensorRT, the CUDA bindings, the Jetson module "
                    "(DLAs, nvpmodel, power rails, thermal zones), rclpy, the engine cache and "
                    "the systemd unit. Exit 0 when everything PIPELINES needs (without it: the "
                    "simulated backend) is present, 1 otherwise.")
    parser.add_argument("pipelines", type=Path, nargs="?", default=None, metavar="PIPELINES",
                        help="pipeline set YAML whose needs decide the exit status")
    parser.add_argument("--json", action="store_true",
                        help="print the checks as a JSON list of {name, ok, found, fix, "
                             "required}")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                        help="engine backend, overriding the recipes' (as for `run`)")
    add_cache_option(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, host: Host | None = None) -> int:
    loaded = load_pipeline_set(args.pipelines) if args.pipelines is not None else None
    backend = BackendName(args.backend) if args.backend else None
    needs, checks = diagnose(host or Host(), cache_dir=args.cache_dir or default_cache_dir(),
                             pipelines=loaded, backend=backend)
    is_ready = ready(checks)
    if args.json:
        sys.stdout.write(json.dumps([c.to_json() for c in checks], indent=2) + "\n")
    else:
        out = console()
        out.print(Text(f"edge-runtime doctor: what {needs.subject} needs"), style="bold")
        out.print(_table(checks))
        missing = [c.name for c in checks if c.required and c.ok is not True]
        out.print(Text(f"ready: everything {needs.subject} needs is present" if is_ready else
                       f"not ready: {needs.subject} needs {', '.join(missing)}"))
    return 0 if is_ready else 1


def _table(checks: list[Check]) -> Table:
    """A checklist: mark, name, what was found with the fix under it, and what needs it.
    Cells are Text, not strings: fixes hold brackets (``pip install 'edge-runtime[tensorrt]'``)
    that rich would otherwise read as markup."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(width=2, no_wrap=True)
    table.add_column(no_wrap=True, style="bold")
    table.add_column(overflow="fold", ratio=3)
    table.add_column(overflow="fold", ratio=1, style="dim")
    for check in checks:
        details = Text(check.found)
        if check.fix:
            details.append("\nfix: ", style="bold yellow").append(check.fix)
        table.add_row(MARKS[check.ok], Text(check.name), details,
                      Text(f"needed for {check.needed_for}" if check.needed_for else ""))
    return table
