"""Option groups shared by several subcommands, defined once (as Polygraphy's args groups)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from rich.console import Console

from edge_runtime.config.recipe import BackendName, MockOutputs
from edge_runtime.errors import UserError
from edge_runtime.runtime.runtime import RuntimeOptions

#: ``--backend`` overrides where recipes are built; a ``backend: triton`` recipe names its
#: server and keeps it, so triton is no override.
BACKEND_CHOICES = [b.value for b in BackendName if b is not BackendName.TRITON]


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="engine cache directory (default: $EDGE_RUNTIME_CACHE or "
                             "~/.cache/edge-runtime/engines)")


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                        help="engine backend, overriding the recipes' (mock = the simulated "
                             "Jetson; auto = TensorRT if installed, else mock); a recipe "
                             "with backend: triton keeps its server")


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """How a runtime builds and runs its engines (``run``, ``demo``, ``serve``)."""
    parser.add_argument("--power", default=None, metavar="MODE",
                        help="initial power mode, e.g. 40W (default: the pipeline set's)")
    add_backend_option(parser)
    parser.add_argument("--mock-outputs", choices=[m.value for m in MockOutputs], default=None,
                        help="simulated engines return zeros (synthetic) or real onnxruntime "
                             "outputs")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per onnxruntime engine")
    add_cache_option(parser)


def runtime_options(args: argparse.Namespace,
                    power_schedule: list[tuple[float, str | int]] | None = None,
                    pace: float | None = None) -> RuntimeOptions:
    """The :class:`RuntimeOptions` of :func:`add_runtime_options`'s flags (``run`` adds its
    power schedule and pace)."""
    if args.threads is not None and args.threads < 1:
        raise UserError(f"must be at least 1, got {args.threads}", key="--threads")
    return RuntimeOptions(
        backend=BackendName(args.backend) if args.backend else None,
        mock_outputs=MockOutputs(args.mock_outputs) if args.mock_outputs else None,
        cache_dir=args.cache_dir, cpu_threads=args.threads, power_mode=args.power,
        power_schedule=power_schedule, pace=pace)


def log_for_journald(verbosity: int = 0) -> None:
    """Plain lines on stderr, info by default, for a service (journald adds the time and the
    unit; a rich handler's colours and columns would only be noise there)."""
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    logging.getLogger("edge_runtime").setLevel(level)


def add_json_option(parser: argparse.ArgumentParser, default: Path | None = None) -> None:
    parser.add_argument("--json", type=Path, default=default, metavar="PATH",
                        help="write the result as JSON" + (f" (default: {default})"
                                                           if default else ""))


def parse_switch(text: str, duration_s: float) -> tuple[float, str | int]:
    """``MODE@SECONDS`` or ``MODE@half`` -> (seconds, mode)."""
    mode, sep, when = text.partition("@")
    if not sep or not mode:
        raise UserError(f"--switch {text!r}: expected MODE@SECONDS, e.g. 15W@10 or 15W@half")
    if when == "half":
        return duration_s / 2.0, mode
    try:
        seconds = float(when)
    except ValueError:
        raise UserError(f"--switch {text!r}: '{when}' is not a number of seconds") from None
    if not math.isfinite(seconds):
        raise UserError(f"--switch {text!r}: the time must be a finite number of seconds")
    if seconds < 0:
        raise UserError(f"--switch {text!r}: the time must be >= 0")
    return seconds, mode


def console() -> Console:
    """stdout; when it is not a terminal (CI logs, pipes) tables get 120 columns, not 80."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
    return Console(file=sys.stdout, width=width)
