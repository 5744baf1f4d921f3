"""``edge-runtime plan PIPELINES``: does a pipeline set fit each power mode, and what gives?

For each power mode asked for (all of the device's by default) the set is planned and then run
for ``--duration`` seconds of *simulated* time, flat out, by the same runtime, scheduler and
planner as ``edge-runtime run`` on the simulated Jetson: mock engines whose timing is the
simulated module's in that mode (``docs/simulator.md``). Per mode it reports whether the set
fits, what each pipeline was granted (lane, engine variant, rate) and why it got less than it
asked for, what it achieved (Hz, p99 latency, deadline misses, drops), lane utilisation and
the predicted module power.

Only the timeline is simulated, so the host work a frame needs and that no figure depends on is
stood in for: every camera hands out one blank frame at its rate (no rendering), each pipeline
prepares its engine input once (the frames are all the same), engines return zeros and nothing
is decoded, and no sink writes. Timed power switches of the set (``power_schedule``) are not run:
each mode is simulated on its own. A mode whose critical pipelines cannot fit, whatever else
gives, is not simulated: it is reported as not fitting, with the planner's reason.

The exit status is 0 when the command worked, whether or not the set fits (read ``fits`` in the
output); 2 for a user's mistake (a bad file, an unknown mode or device).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from edge_runtime.cli.build import device_profile
from edge_runtime.cli.live import fmt_rate, fmt_value
from edge_runtime.cli.options import add_cache_option, add_json_option, console
from edge_runtime.cli.progress import RichProgress
from edge_runtime.config.loading import LoadedPipelineSet, load_pipeline_set
from edge_runtime.config.pipeline import PipelineConfig, Priority
from edge_runtime.config.power import PowerMode, PowerProfile
from edge_runtime.config.recipe import BackendName, MockOutputs
from edge_runtime.config.stages import (
    ExternalSourceConfig,
    SyntheticCameraSource,
    TextCommandsSource,
)
from edge_runtime.errors import MissingDependencyError, UserError
from edge_runtime.fileio import atomic_write_text
from edge_runtime.optimize.progress import Progress
from edge_runtime.pipelines.preprocess import Preprocessor
from edge_runtime.pipelines.sources import Frame, Source, TextCommands
from edge_runtime.runtime.pipeline import Pipeline
from edge_runtime.runtime.plot import save_png
from edge_runtime.runtime.runtime import Runtime, RuntimeOptions
from edge_runtime.runtime.status import RuntimeStatus
from edge_runtime.runtime.summary import RunSummary
from edge_runtime.scheduler.planner import InfeasibleError, Plan

DEFAULT_DURATION_S = 20.0
#: Frame size of a stand-in for a source whose size is not in its config (files, pushes).
STAND_IN_HW = (240, 320)
#: What ``drops`` counts in the output.
DROPS_NOTE = ("drops = frames replaced by newer ones + frames dropped late (late_drops, also "
              "given apart)")
#: Per-pipeline keys, all null for a mode that was not simulated.
PIPELINE_KEYS = ("state", "priority", "lane", "variant", "rate_hz", "wanted_rate_hz", "frames",
                 "hz", "p50_ms", "p99_ms", "deadline_ms", "deadline_misses", "drops",
                 "late_drops", "reason")


# --- stand-ins for host work no figure depends on ------------------------------------------------


class StandInCamera:
    """A source handing out one blank frame: at ``rate_hz`` (frame k exposed at k / rate, as
    a camera), or a new one on every read when it has no rate (a file read on demand)."""

    def __init__(self, rate_hz: float | None, height: int, width: int) -> None:
        self.rate_hz = rate_hz
        self.image: npt.NDArray[np.uint8] = np.zeros((height, width, 3), dtype=np.uint8)
        self._next = 0

    def read(self, now: float) -> Frame:
        if self.rate_hz is None:
            self._next += 1
            return Frame(self._next - 1, self.image, now)
        index = max(math.floor(now * self.rate_hz + 1e-9), 0)
        return Frame(index, self.image, index / self.rate_hz)

    def prefetch(self, at: float) -> None:
        del at

    def close(self) -> None:
        pass


def stand_in_source(config: PipelineConfig) -> Source | None:
    """The stand-in for a pipeline's source; None for frames pushed by a host at no set rate
    (the runtime's own external source: nothing pushes, so the pipeline gets no frames)."""
    source = config.source
    if isinstance(source, TextCommandsSource):
        return TextCommands(source)  # microseconds a command: the real one is the stand-in
    if isinstance(source, ExternalSourceConfig) and config.is_text:
        return TextCommands(TextCommandsSource(type="text_commands", rate_hz=config.rate_hz)) \
            if config.rate_hz else None
    if isinstance(source, ExternalSourceConfig):
        return StandInCamera(None, *STAND_IN_HW) if config.rate_hz else None
    if isinstance(source, SyntheticCameraSource):
        return StandInCamera(source.fps, source.height, source.width)
    return StandInCamera(source.fps, *STAND_IN_HW)


class FeedOnce(Preprocessor):
    """A pipeline's preprocessing, done for its first frame only: every stand-in frame is the
    same blank image, so every feed is the same (and mock engines with synthetic outputs do not
    read it)."""

    def __init__(self, inner: Preprocessor) -> None:
        super().__init__(inner.config, inner.target, 1)
        self._feed: npt.NDArray[np.generic] | None = None

    def __call__(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.generic]:
        if self._feed is None:
            self._feed = super().__call__(frame)
        return self._feed


def stand_in_host_work(pipelines: Sequence[Pipeline]) -> None:
    """Prepare each input once and decode nothing (outputs are zeros; nothing reads them)."""
    for pipeline in pipelines:
        if pipeline.preprocessor is not None \
                and not isinstance(pipeline.preprocessor, FeedOnce):
            pipeline.preprocessor = FeedOnce(pipeline.preprocessor)
        pipeline.decoder = None
        pipeline.command_decoder = None  # texts are tokenized for real: their lengths matter


# --- loading -------------------------------------------------------------------------------------


def load_for_planning(path: str | Path, device: str | None = None) -> LoadedPipelineSet:
    """The set at ``path``, on ``device`` when given (a profile name or YAML), without sinks."""
    loaded = load_pipeline_set(path)
    config = loaded.config.model_copy(update={"pipelines": [
        p.model_copy(update={"sinks": []}) for p in loaded.config.pipelines]})
    loaded = replace(loaded, config=config)
    if device is None:
        return loaded
    profile = device_profile(device)
    mode = profile.find_mode(config.power_mode) if config.power_mode is not None else None
    return replace(loaded, profile=profile, initial_mode=mode or profile.default,
                   config=config.model_copy(update={"device": profile.module}))


def resolve_modes(profile: PowerProfile, spec: str) -> list[PowerMode]:
    """``all`` (every mode of the profile), or a comma-separated list of mode names."""
    if spec.strip().lower() == "all":
        return list(profile.modes)
    names = [name.strip() for name in spec.split(",")]
    if not all(names):
        raise UserError(f"expected 'all' or mode names separated by commas, got '{spec}' "
                        f"(known: {profile.known_modes()})", key="--modes")
    modes: list[PowerMode] = []
    for name in names:
        try:
            mode = profile.resolve(name)
        except UserError as exc:
            raise UserError(exc.message, key="--modes") from None
        if mode not in modes:
            modes.append(mode)
    return modes


# --- the simulation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeResult:
    """What one power mode gives the set."""

    mode: PowerMode
    fits: bool
    #: Why it does not fit (None when it does).
    reason: str | None
    watts: float | None
    #: Per lane: measured ``utilisation`` (None when not simulated) and the planner's test.
    lanes: dict[str, dict[str, Any]]
    pipelines: dict[str, dict[str, Any]]
    simulated_s: float
    wall_s: float

    @property
    def degraded(self) -> list[str]:
        return [name for name, row in self.pipelines.items() if row["reason"]]

    @property
    def gave(self) -> list[str]:
        """Pipelines the plan moved, slowed or paused (the set does not fit as asked)."""
        return [name for name, row in self.pipelines.items()
                if any(step in STEPS for step in _steps(row["reason"]).split(", "))]

    @property
    def verdict(self) -> str:
        if not self.fits:
            return "does NOT fit"
        if self.gave:
            return f"fits only by degrading {', '.join(self.gave)}"
        return "fits as asked"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.label, "name": self.mode.name, "budget_w": self.mode.budget_w,
                "fits": self.fits, "fits_as_asked": self.fits and not self.gave,
                "reason": self.reason, "watts": self.watts,
                "simulated_s": self.simulated_s, "degraded": self.degraded,
                "lanes": self.lanes, "pipelines": self.pipelines}


@dataclass(frozen=True)
class PlanReport:
    """Every mode's result for one pipeline set."""

    path: Path
    profile: PowerProfile
    duration_s: float
    modes: list[ModeResult]

    def to_dict(self) -> dict[str, Any]:
        return {"pipelines_file": str(self.path), "device": self.profile.module,
                "device_name": self.profile.name, "duration_s": self.duration_s,
                "clock": "sim", "notes": [DROPS_NOTE, "watts are the simulated module's "
                                          "estimate from lane utilisation"],
                "modes": {result.mode.label: result.to_dict() for result in self.modes}}


def planning_runtime(loaded: LoadedPipelineSet, first: PowerMode,
                     cache_dir: Path | None = None) -> Runtime:
    """A runtime on the simulated clock, flat out, with mock engines, stand-in sources and no
    timed switches, starting in ``first``."""
    sources = {p.name: s for p in loaded.config.pipelines
               if (s := stand_in_source(p)) is not None}
    return Runtime(loaded, clock="sim", sources=sources, options=RuntimeOptions(
        backend=BackendName.MOCK, mock_outputs=MockOutputs.SYNTHETIC, cache_dir=cache_dir,
        power_mode=first.id, power_schedule=[], camera_processes=False, freeze_gc=False))


def configure_order(modes: Sequence[PowerMode]) -> list[PowerMode]:
    """The modes to try configuring in: the most generous first (MAXN has no budget)."""
    return sorted(modes, key=lambda m: -(m.budget_w or math.inf))


def configure(runtime: Runtime, modes: Sequence[PowerMode],
              progress: Progress | None = None) -> dict[str, InfeasibleError]:
    """Configure in the first of ``modes`` (in :func:`configure_order`) the critical pipelines
    fit; returns the planner's refusal per mode tried before, or for every mode if none fits
    (the runtime then stays unconfigured)."""
    refused: dict[str, InfeasibleError] = {}
    for mode in configure_order(modes):
        if refused:
            runtime.set_power_mode(mode.id)  # not configured: nothing to plan, just switch
        try:
            runtime.configure(progress=progress)
            return refused
        except InfeasibleError as exc:
            refused[mode.label] = exc
    return refused


def simulate_mode(runtime: Runtime, mode: PowerMode, duration_s: float) -> ModeResult:
    """Plan ``mode``; if its critical pipelines fit, run the set in it for ``duration_s``."""
    started = time.perf_counter()
    try:
        runtime.plan(mode)
    except InfeasibleError as exc:
        return not_simulated(mode, exc.message,
                             [p.config for p in runtime.pipelines.values()], exc.plan)
    runtime.set_power_mode(mode.id)
    runtime.activate()
    try:
        runtime.run_for(duration_s)
        status = runtime.status()
        deadlines = {name: p.deadline_s for name, p in runtime.pipelines.items()}
    finally:
        summary = runtime.deactivate()
    return simulated(mode, summary, status, deadlines, time.perf_counter() - started)


def simulate(loaded: LoadedPipelineSet, modes: Sequence[PowerMode],
             duration_s: float = DEFAULT_DURATION_S, cache_dir: Path | None = None,
             progress: Progress | None = None,
             on_mode: Callable[[ModeResult], None] | None = None) -> PlanReport:
    """The set in each of ``modes`` (module docstring); ``on_mode`` is told each result."""
    runtime = planning_runtime(loaded, configure_order(modes)[0], cache_dir)
    results: list[ModeResult] = []
    try:
        refused = configure(runtime, modes, progress)
        stand_in_host_work(list(runtime.pipelines.values()))
        for mode in modes:
            if runtime.loaded is not None:
                result = simulate_mode(runtime, mode, duration_s)
            else:
                exc = refused[mode.label]
                result = not_simulated(mode, exc.message, loaded.config.pipelines, exc.plan)
            results.append(result)
            if on_mode is not None:
                on_mode(result)
    finally:
        runtime.shutdown()
    return PlanReport(loaded.path, loaded.profile, duration_s, results)


# --- results -------------------------------------------------------------------------------------


def not_simulated(mode: PowerMode, message: str, configs: Sequence[PipelineConfig],
                  plan: Plan | None = None) -> ModeResult:
    """A mode the critical pipelines cannot fit: the planner's reason, per-pipeline figures
    null, and the lanes as the planner tested them (when it got that far)."""
    lanes = {} if plan is None else {
        lane: {"utilisation": None, **planned(check)}
        for lane, check in plan.to_dict()["lanes"].items()}
    return ModeResult(mode, False, message, None, lanes,
                      {c.name: _unsimulated_row(c) for c in configs}, 0.0, 0.0)


def _unsimulated_row(config: PipelineConfig) -> dict[str, Any]:
    deadline_s = config.deadline_for(config.rate_hz)
    return {**dict.fromkeys(PIPELINE_KEYS), "state": "not simulated",
            "priority": config.priority.value, "wanted_rate_hz": config.rate_hz,
            "deadline_ms": None if deadline_s is None else round(deadline_s * 1e3, 3)}


def planned(check: dict[str, Any]) -> dict[str, Any]:
    """The planner's test of a lane (``LaneCheck.to_dict``), as the output names it."""
    return {"planned_utilisation": check["utilisation"], "fits": check["fits"],
            "over": check["over"], "why": check["why"]}


def simulated(mode: PowerMode, summary: RunSummary, status: RuntimeStatus,
              deadlines: dict[str, float | None], wall_s: float) -> ModeResult:
    """A simulated mode's result from the activation's summary and its final status."""
    report = summary.to_dict()
    label = mode.label
    plan = report["plans"].get(label, {})
    measured = report["modes"].get(label, {})
    utilisation = measured.get("utilisation", {})
    lanes = {lane: {"utilisation": utilisation.get(lane, 0.0), **planned(check)}
             for lane, check in plan.get("lanes", {}).items()}
    for lane, share in utilisation.items():
        lanes.setdefault(lane, {"utilisation": share})
    pipelines = {name: pipeline_row(status, name, report["pipelines"].get(name, {}).get(label),
                                    deadlines.get(name))
                 for name in status.pipelines}
    failing = [f"{lane}: {check['why']}" for lane, check in plan.get("lanes", {}).items()
               if not check["fits"]]
    reason = "; ".join(failing) or None
    missed = [f"{name} missed {row['deadline_misses']} deadlines"
              for name, row in pipelines.items()
              if row["priority"] == Priority.CRITICAL.value and row["deadline_misses"]]
    if missed and reason is None:
        reason = "in the simulation, critical " + ", ".join(missed)
    return ModeResult(mode, reason is None, reason, measured.get("watts"), lanes, pipelines,
                      summary.duration_s, round(wall_s, 6))


def pipeline_row(status: RuntimeStatus, name: str, row: dict[str, Any] | None,
                 deadline_s: float | None) -> dict[str, Any]:
    """One pipeline's grant (from the status at the end) and figures (from the summary)."""
    now = status.pipelines[name]
    row = row or {}
    drops, late = row.get("drops", 0), row.get("late_drops", 0)
    return {"state": now.state, "priority": now.priority, "lane": now.lane,
            "variant": now.variant, "rate_hz": now.rate_hz, "wanted_rate_hz": now.wanted_rate_hz,
            "frames": row.get("frames", 0), "hz": row.get("hz", 0.0),
            "p50_ms": row.get("p50_ms"), "p99_ms": row.get("p99_ms"),
            "deadline_ms": None if deadline_s is None else round(deadline_s * 1e3, 3),
            "deadline_misses": row.get("deadline_misses", 0), "drops": drops + late,
            "late_drops": late, "reason": now.reason}


# --- output --------------------------------------------------------------------------------------


def progress_line(result: ModeResult) -> str:
    verdict = result.verdict
    if result.simulated_s <= 0:
        return f"{result.mode.label}: {verdict} (not simulated: the planner refuses it)"
    return (f"{result.mode.label}: {verdict}; simulated {result.simulated_s:g} s in "
            f"{result.wall_s:.2f} s")


def _lanes_line(result: ModeResult) -> str:
    parts = []
    for lane, info in result.lanes.items():
        measured = info.get("utilisation")
        plan = info.get("planned_utilisation")
        text = f"{lane} {measured * 100:.0f}% busy" if measured is not None else lane
        if plan is not None:
            text += f" (plan {plan * 100:.0f}%{'' if info.get('fits', True) else ', over'})"
        parts.append(text)
    return "lanes: " + ", ".join(parts)


#: The planner's degradation steps, as its reasons start them.
STEPS = ("moved", "slowed", "paused")


def _steps(reason: str | None) -> str:
    """The planner's steps in a reason (``moved ...; slowed ...`` -> ``moved, slowed``; a
    best-effort pipeline that keeps its grant but may miss its deadline -> ``may miss``)."""
    if not reason:
        return "-"
    found = [word for part in reason.split("; ") if (word := part.split(" ", 1)[0]) in STEPS]
    if "may miss" in reason:
        found.append("may miss")
    return ", ".join(dict.fromkeys(found)) or "-"


def mode_table(result: ModeResult) -> Group:
    """One mode: the verdict, a row per pipeline, the lanes."""
    watts = f", {result.watts:.1f} W predicted" if result.watts is not None else ""
    mode = result.mode
    named = mode.label if mode.name == mode.label else f"{mode.label} ({mode.name})"
    title = f"{named}: {result.verdict}{watts}"
    parts: list[RenderableType] = []
    if result.simulated_s > 0:
        table = Table(title=title, title_justify="left")
        for column in ("pipeline", "state", "lane", "variant", "rate", "Hz", "p99 ms",
                       "deadline ms", "misses", "drops", "gives"):
            table.add_column(column, overflow="fold", justify="right" if column in (
                "rate", "Hz", "p99 ms", "deadline ms", "misses", "drops") else "left")
        for name, row in result.pipelines.items():
            table.add_row(name, row["state"], row["lane"], row["variant"],
                          fmt_rate(row["rate_hz"]), fmt_value(row["hz"]), fmt_value(row["p99_ms"]),
                          fmt_value(row["deadline_ms"]), fmt_value(row["deadline_misses"]),
                          fmt_value(row["drops"]), _steps(row["reason"]))
        parts.append(table)
    else:
        parts.append(Text(title))
    if result.reason:
        parts.append(Text(f"  why: {result.reason}"))
    parts += [Text(f"  {name}: {row['reason']}") for name, row in result.pipelines.items()
              if row["reason"]]
    if result.lanes:
        parts.append(Text(f"  {_lanes_line(result)}"))
    return Group(*parts)


def print_report(out: Console, report: PlanReport) -> None:
    out.print(f"plan: {report.path} on {report.profile.name} (simulated), "
              f"{report.duration_s:g} s per mode")
    for result in report.modes:
        out.print(mode_table(result))
    out.print(DROPS_NOTE)


def write_json(report: PlanReport, path: Path) -> None:
    import json

    atomic_write_text(path, json.dumps(report.to_dict(), indent=2) + "\n")


def plot_plan(report: PlanReport, path: Path) -> None:
    """Per mode: lane utilisation (measured, and the planner's), and each pipeline's p99
    latency against its deadline."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("matplotlib (for --plot)", "plot") from None
    rows = max(len(report.modes), 1)
    figure, axes = plt.subplots(rows, 2, figsize=(12, 3.2 * rows), squeeze=False)
    for (lanes_ax, latency_ax), result in zip(axes, report.modes, strict=False):
        _plot_lanes(lanes_ax, result)
        _plot_latency(latency_ax, result)
    figure.suptitle(f"{report.profile.name} (simulated): plan of {report.path.name}, "
                    f"{report.duration_s:g} s per mode")
    save_png(figure, path)


def _verdict(result: ModeResult) -> str:
    return f"{result.mode.label}: {result.verdict}"


def _plot_lanes(axis: Any, result: ModeResult) -> None:
    lanes = list(result.lanes)
    measured = [(result.lanes[k].get("utilisation") or 0.0) * 100 for k in lanes]
    plan = [(result.lanes[k].get("planned_utilisation") or 0.0) * 100 for k in lanes]
    positions = list(range(len(lanes)))
    axis.bar([p - 0.2 for p in positions], measured, 0.4, label="simulated")
    axis.bar([p + 0.2 for p in positions], plan, 0.4, alpha=0.5, label="planned")
    axis.axhline(100, color="grey", linewidth=0.8, linestyle="--")
    axis.set_xticks(positions, lanes)
    axis.set_ylabel("lane utilisation %")
    axis.set_title(f"{_verdict(result)}, lanes")
    axis.legend(fontsize="small")


def _plot_latency(axis: Any, result: ModeResult) -> None:
    names = list(result.pipelines)
    rows = [result.pipelines[n] for n in names]
    positions = list(range(len(names)))
    late = [bool(r["p99_ms"] and r["deadline_ms"] and r["p99_ms"] > r["deadline_ms"])
            for r in rows]
    axis.bar(positions, [r["p99_ms"] or 0.0 for r in rows], 0.6, label="p99",
             color=["tab:red" if over else "tab:blue" for over in late])
    deadlines = [(p, r["deadline_ms"]) for p, r in enumerate(rows) if r["deadline_ms"]]
    if deadlines:
        axis.scatter([p for p, _ in deadlines], [d for _, d in deadlines], marker="_", s=600,
                     color="red", label="deadline", zorder=3)
    if result.simulated_s <= 0:
        axis.text(0.5, 0.5, "not simulated: the critical pipelines do not fit",
                  transform=axis.transAxes, ha="center", va="center")
    axis.set_xticks(positions, names, fontsize="small")
    axis.set_ylabel("ms")
    axis.set_title(f"{_verdict(result)}, p99 latency vs deadline")
    axis.legend(fontsize="small", markerscale=0.5)


# --- the command ---------------------------------------------------------------------------------


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plan", help="does a pipeline set fit each power mode, and what gives?",
        description="Plan and simulate a pipeline set in each power mode (simulated time, "
                    "flat out): whether it fits, each pipeline's lane, variant, rate, Hz, p99 "
                    "latency, misses and drops, lane utilisation, predicted watts. Exit status "
                    "0 whether or not it fits; 2 for a user's mistake.")
    parser.add_argument("pipelines", help="pipeline set YAML (pipelines/*.yaml)")
    parser.add_argument("--device", default=None, metavar="NAME",
                        help="plan for this module (profile name or YAML) instead of the set's")
    parser.add_argument("--modes", default="all", metavar="all|LIST",
                        help="power modes, e.g. 15W,40W (default: all of the device's)")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, metavar="S",
                        help=f"simulated seconds per mode (default: {DEFAULT_DURATION_S:g})")
    add_json_option(parser)
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
                        help="also plot lane utilisation and p99 vs deadline per mode to a PNG "
                             "(needs matplotlib)")
    add_cache_option(parser)
    parser.set_defaults(handler=handle)


def check_duration(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds > 0):
        raise UserError(f"must be a positive, finite number of seconds, got {seconds}",
                        key="--duration")
    return seconds


def handle(args: argparse.Namespace) -> int:
    out = console()
    duration_s = check_duration(args.duration)
    loaded = load_for_planning(args.pipelines, args.device)
    modes = resolve_modes(loaded.profile, args.modes)
    progress = RichProgress(out)
    with progress.shown():
        report = simulate(loaded, modes, duration_s, args.cache_dir, progress,
                          on_mode=lambda result: progress.message(progress_line(result)))
    print_report(out, report)
    if args.json is not None:
        write_json(report, args.json)
        out.print(f"plan written to {args.json}")
    if args.plot is not None:
        plot_plan(report, args.plot)
        out.print(f"plot written to {args.plot}")
    return 0
