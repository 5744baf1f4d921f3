"""``edge-runtime``: a thin command line over the package's public API.

Each subcommand is a few lines that call functions a Python user could call. A user's mistake
(:class:`~edge_runtime.errors.UserError`) is printed as one line on stderr with exit status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from edge_runtime import __version__
from edge_runtime.cli import (
    build,
    cache,
    demo,
    doctor,
    inspect,
    plan,
    power,
    ros2,
    run,
    serve,
    triton,
)
from edge_runtime.errors import (
    EXIT_GATE_FAILED,
    EXIT_USER_ERROR,
    EngineUnavailableError,
    GateFailedError,
    UserError,
)

COMMANDS = (build, inspect, run, demo, plan, serve, ros2, triton, power, cache, doctor)


class OneLineParser(argparse.ArgumentParser):
    """A usage mistake is one line and exit 2, like every other user error (argparse's own
    prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="edge-runtime",
        description="Run several inference pipelines at once on a Jetson module, or on a "
                    "simulated one.",
    )
    parser.add_argument("--version", action="version", version=f"edge-runtime {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def _configure_logging(verbosity: int) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(show_path=False, rich_tracebacks=False)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        status: int = args.handler(args)
    except GateFailedError as exc:
        sys.stderr.write(f"accuracy gate failed: {exc}\n")
        return EXIT_GATE_FAILED
    except UserError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_USER_ERROR
    except EngineUnavailableError as exc:
        sys.stderr.write(f"{exc} (start the server, e.g. edge-runtime triton serve-models "
                         "ENGINE, or check the recipe's triton.url)\n")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return status


if __name__ == "__main__":
    raise SystemExit(main())
