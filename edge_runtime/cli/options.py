"""Option groups shared by several subcommands, defined once (as Polygraphy's args groups)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from rich.console import Console

from edge_runtime.config.recipe import BackendName
from edge_runtime.errors import UserError

BACKEND_CHOICES = [b.value for b in BackendName]


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="engine cache directory (default: $EDGE_RUNTIME_CACHE or "
                             "~/.cache/edge-runtime/engines)")


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                        help="engine backend, overriding the recipes' (mock = the simulated "
                             "Jetson; auto = TensorRT if installed, else mock)")


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
