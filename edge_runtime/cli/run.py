"""``edge-runtime run PIPELINES``: run a pipeline set, live, and summarise it."""

from __future__ import annotations

import argparse
import math
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.cli.live import LiveDisplay, summary_table
from edge_runtime.cli.options import (
    add_json_option,
    add_runtime_options,
    console,
    parse_switch,
    runtime_options,
)
from edge_runtime.cli.progress import RichProgress
from edge_runtime.config.loading import LoadedPipelineSet, load_pipeline_set
from edge_runtime.errors import UserError
from edge_runtime.runtime.runtime import ClockName, Runtime, RuntimeOptions
from edge_runtime.runtime.status import RuntimeStatus
from edge_runtime.runtime.summary import RunSummary


def add_run_options(parser: argparse.ArgumentParser, duration: float,
                    json_default: Path | None, clock: str = "wall",
                    pace: float | None = None) -> None:
    parser.add_argument("--duration", type=float, default=duration, metavar="S",
                        help=f"seconds to run (default: {duration:g})")
    add_runtime_options(parser)
    parser.add_argument("--switch", action="append", default=[], metavar="MODE@S",
                        help="switch power mode at S seconds (or @half); repeatable")
    parser.add_argument("--clock", choices=["wall", "sim"], default=clock,
                        help="wall: real time, a thread per lane; sim: discrete-event "
                             f"simulated time (default: {clock})")
    parser.add_argument("--pace", type=float, default=pace,
                        help="with --clock sim, pace simulated time to the wall clock (1 = "
                             "real time; 0 = as fast as possible)"
                             + (f" (default: {pace:g})" if pace else ""))
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG",
                        help="also plot the summary to a PNG (needs matplotlib)")
    add_json_option(parser, json_default)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("run", help="run a pipeline set",
                                 description="Run every pipeline of a pipeline set at once, "
                                             "with a live table, and print a summary.")
    parser.add_argument("pipelines", help="pipeline set YAML (pipelines/*.yaml)")
    add_run_options(parser, duration=10.0, json_default=None)
    parser.set_defaults(handler=handle)


@dataclass(frozen=True)
class RunRequest:
    """What ``run`` and ``demo`` ask of the runtime: its options, the clock, how long."""

    options: RuntimeOptions
    clock: ClockName
    duration_s: float


def request_from(args: argparse.Namespace) -> RunRequest:
    """The request the flags describe. argparse's ``float`` takes ``inf`` and ``nan``, which
    no comparison catches (``nan <= 0`` is false): an infinite run never ends, a NaN one
    breaks the loop's arithmetic, so both are refused here."""
    if not math.isfinite(args.duration):
        raise UserError(f"must be a finite number of seconds, got {args.duration}",
                        key="--duration")
    if args.duration <= 0:
        raise UserError(f"must be positive, got {args.duration}", key="--duration")
    if args.pace is not None and not (math.isfinite(args.pace) and args.pace >= 0):
        raise UserError(f"must be a finite number >= 0 (1 = real time, 0 = as fast as "
                        f"possible), got {args.pace}", key="--pace")
    switches = [parse_switch(s, args.duration) for s in args.switch]
    options = runtime_options(args, power_schedule=switches or None, pace=args.pace or None)
    return RunRequest(options, args.clock, args.duration)


class StopFlag:
    """SIGINT / SIGTERM end the run gracefully: in-flight frames finish, sinks close."""

    def __init__(self) -> None:
        self.event = threading.Event()

    @contextmanager
    def on_signals(self) -> Iterator[StopFlag]:
        def request_stop(signum: int, frame: object) -> None:
            del signum, frame
            self.event.set()

        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, request_stop) for sig in signals}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def check_flag_modes(loaded: LoadedPipelineSet, options: RuntimeOptions) -> None:
    """Unknown modes in --power / --switch name the flag, before anything is built."""
    flags = [("--power", options.power_mode)] if options.power_mode is not None else []
    flags += [("--switch", mode) for _, mode in options.power_schedule or []]
    for flag, mode in flags:
        try:
            loaded.profile.resolve(mode)
        except UserError as exc:
            raise UserError(exc.message, key=flag) from None


def check_no_ros2_sources(loaded: LoadedPipelineSet) -> None:
    """A ``type: ros2`` pipeline gets its frames from the ROS 2 node; ``run`` has none."""
    for index, pipeline in enumerate(loaded.config.pipelines):
        if pipeline.source.type == "ros2":
            raise loaded.document.error(
                ("pipelines", index, "source", "type"),
                f"pipeline '{pipeline.name}' takes its frames from ROS 2 topics; run the set "
                f"with `edge-runtime ros2 {loaded.path.name}`, or give it a camera or file "
                "source")


def run_until_done(runtime: Runtime, duration_s: float, stop: StopFlag,
                   observe: Callable[[RuntimeStatus], None], every_s: float = 0.5) -> None:
    """Let an active runtime run for ``duration_s`` (or until stopped or played out),
    showing its status every ``every_s``. The simulated clock is advanced here; the wall
    clock runs by itself."""
    status = runtime.status()
    simulated = status.clock == "sim"
    elapsed = 0.0
    while elapsed < duration_s - 1e-9 and not stop.event.is_set() and not runtime.finished:
        step = min(every_s, duration_s - elapsed)
        if simulated:
            runtime.run_for(step)
            elapsed += step
        else:
            stop.event.wait(max(min(step, duration_s - runtime.status().now), 0.0))
            elapsed = runtime.status().now
        observe(runtime.status())


def execute(pipelines: str | Path, request: RunRequest, json_path: Path | None,
            plot_path: Path | None) -> RunSummary:
    """Load, build, run with a live display, print and write the summary."""
    out = console()
    loaded = load_pipeline_set(pipelines)
    check_flag_modes(loaded, request.options)
    check_no_ros2_sources(loaded)
    runtime = Runtime(loaded, clock=request.clock, options=request.options)
    try:
        progress = RichProgress(out)
        with progress.shown():
            runtime.configure(progress=progress)
        for info in runtime.all_engines:
            state = "cache hit" if info.cache_hit else f"built in {info.build_seconds:.2f} s"
            out.print(f"engine {info.engine} for {info.pipeline}: {info.backend} on "
                      f"{info.lane}, {info.precision}, {state}")
        display = LiveDisplay(out, request.duration_s)
        with StopFlag().on_signals() as stop, display.running():
            runtime.activate()
            run_until_done(runtime, request.duration_s, stop, display)
            summary = runtime.deactivate()
    finally:
        runtime.shutdown()
    out.print(summary_table(summary))
    if json_path is not None:
        summary.write_json(json_path)
        out.print(f"summary written to {json_path}")
    if plot_path is not None:
        from edge_runtime.runtime.plot import plot_summary

        plot_summary(summary, plot_path)
        out.print(f"plot written to {plot_path}")
    return summary


def handle(args: argparse.Namespace) -> int:
    execute(args.pipelines, request_from(args), args.json, args.plot)
    return 0
