"""The runtime: the one public face that a host program, the ROS 2 node, the service and the CLI
all drive.

A :class:`Runtime` holds a pipeline set and moves through the lifecycle of a ROS 2 managed node
(``runtime.lifecycle``): ``configure`` loads the set and builds or loads every engine,
``activate`` starts sources, lanes and the scheduler, ``deactivate`` stops sources and drains
in-flight frames while keeping engines loaded, ``cleanup`` releases engines, ``shutdown`` ends
it from any state. Every transition can be repeated in one process.

What it runs on is injected: the power device (the simulated Jetson unless given another), the
clock (``"wall"``: its own threads in real time; ``"sim"``: a simulated clock the host advances
with :meth:`Runtime.run_for`; or a factory of event loops), and sources for any pipeline.
Frames can come in from the host (:meth:`Runtime.push`); outputs leave as typed values to
subscribers (:meth:`Runtime.subscribe`). Control requests from any thread go through the loop.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import numpy.typing as npt

from edge_runtime.config.loading import LoadedPipelineSet, load_pipeline_set
from edge_runtime.config.pipeline import PipelineConfig
from edge_runtime.config.power import PowerMode
from edge_runtime.config.recipe import BackendName, MockOutputs
from edge_runtime.config.stages import SyntheticCameraSource
from edge_runtime.engines.cache import EngineCache
from edge_runtime.engines.registry import EngineContext
from edge_runtime.errors import UserError
from edge_runtime.optimize.progress import Progress
from edge_runtime.pipelines.output import Output
from edge_runtime.pipelines.sinks import Sink, open_sink
from edge_runtime.pipelines.sources import FrameIn, Source, Truth, open_source
from edge_runtime.power.manager import PowerDevice, PowerManager
from edge_runtime.power.telemetry import Telemetry, telemetry_dict
from edge_runtime.runtime.engine_set import EngineSet, LoadedEngine, release
from edge_runtime.runtime.lifecycle import State, Transition, next_state
from edge_runtime.runtime.outputs import (
    QUEUE_SIZE,
    OutputBus,
    OutputCallback,
    SinkSubscriber,
    Subscription,
)
from edge_runtime.runtime.pipeline import Pipeline
from edge_runtime.runtime.planning import EnginePrior, WarmUp, plan_pipelines
from edge_runtime.runtime.session import PowerControl, Session
from edge_runtime.runtime.status import PipelineStatus, RuntimeStatus
from edge_runtime.runtime.summary import EngineInfo, RunSummary, summarise
from edge_runtime.scheduler.costs import CostModel
from edge_runtime.scheduler.governor import (
    Decision,
    Governor,
    GovernorSettings,
    ModeOption,
    Step,
    choose_mode,
)
from edge_runtime.scheduler.loop import EventLoop, RealtimeLoop, SimulatedLoop
from edge_runtime.scheduler.planner import InfeasibleError, Plan
from edge_runtime.sim.device_model import Lane
from edge_runtime.sim.jetson import SimulatedJetson

log = logging.getLogger("edge_runtime.runtime")

ClockName = Literal["wall", "sim"]
LoopFactory = Callable[[], EventLoop]
#: How long ``deactivate`` waits for the loop thread to drain and stop.
STOP_TIMEOUT_S = 30.0


@dataclass
class RuntimeOptions:
    """How to build and run (the CLI's flags; every field has a sensible default)."""

    backend: BackendName | None = None
    mock_outputs: MockOutputs | None = None
    cache_dir: Path | None = None
    cpu_threads: int | None = None
    #: Initial power mode (default: the pipeline set's).
    power_mode: str | int | None = None
    #: Timed switches, seconds after each activation (default: the pipeline set's).
    power_schedule: list[tuple[float, str | int]] | None = None
    #: With the simulated clock, pace it to the wall clock (1.0 = real time; None = flat out).
    pace: float | None = None
    #: Python's thread switch interval while active on the wall clock. Every hand-off between
    #: the loop, lane and output threads can wait out one interval (5 ms by default), which
    #: alone eats a sixth of a 33 ms deadline; restored on deactivate.
    switch_interval_s: float | None = 0.0005
    #: Wall clock only: render synthetic cameras in a process of their own, handing frames
    #: over shared memory as a camera driver would (the simulation's cost off this GIL).
    camera_processes: bool = True
    #: Wall clock only: freeze what configure allocated (models, configs: long-lived) out of
    #: the garbage collector's reach while active, so a full collection does not stop every
    #: thread for tens of milliseconds scanning it (measured: 45 ms here); undone on
    #: deactivate.
    freeze_gc: bool = True


@dataclass
class ReloadReport:
    """What a reload changed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    engines: list[EngineInfo] = field(default_factory=list)


class Runtime:
    """A pipeline set's engines, scheduler and lanes, hosted (see the module docstring)."""

    def __init__(self, pipelines: str | Path | LoadedPipelineSet, *,
                 clock: ClockName | LoopFactory = "wall", device: PowerDevice | None = None,
                 sources: Mapping[str, Source] | None = None,
                 options: RuntimeOptions | None = None) -> None:
        self._spec = pipelines
        self.options = options or RuntimeOptions()
        self._clock = clock
        self._given_device = device
        self._given_sources = dict(sources or {})
        self._state = State.UNCONFIGURED
        self.loaded: LoadedPipelineSet | None = None
        self.bus = OutputBus(threaded=clock != "sim")
        self.pipelines: dict[str, Pipeline] = {}
        self.power: PowerManager | None = None
        self.simulator: SimulatedJetson | None = None
        self.engine_set: EngineSet | None = None
        self._sinks: dict[str, list[tuple[Sink, Subscription]]] = {}
        self._retired: list[LoadedEngine] = []
        self._session: Session | None = None
        self._thread: threading.Thread | None = None
        self._last_summary: RunSummary | None = None
        self._switch_interval: float | None = None
        self._transition = threading.RLock()
        self._watts_cache: dict[tuple[str, tuple[tuple[str, float], ...]], float] = {}
        #: Run times per engine, lane, mode and batch (``scheduler.costs``): kept across
        #: activations, so a mode seen once is planned from what it measured.
        self.costs: CostModel | None = None
        self._prior: EnginePrior | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the runtime is in its lifecycle."""
        return self._state

    def configure(self, progress: Progress | None = None) -> list[EngineInfo]:
        """Load and check the pipeline set, build or load every engine (may take minutes;
        ``progress`` is told), open sinks. unconfigured -> inactive."""
        with self._transition:
            target = next_state(self.state, Transition.CONFIGURE)
            loaded = self._load(self._spec)
            self._check_injected(loaded)
            self._open_device(loaded)
            assert self.engine_set is not None
            engines = self.engine_set.load(loaded, [p.name for p in loaded.config.pipelines],
                                           progress)
            self.engine_set.install(engines)
            self.loaded = loaded
            self.pipelines = {}
            for config in loaded.config.pipelines:
                self._add_pipeline(config, engines[config.name])
            try:
                self.plan(self._require_power().mode)
            except InfeasibleError as exc:
                located = self._located(exc)
                self._release()
                raise located from None
            self._state = target
            return self.engines

    def activate(self) -> None:
        """Start sources, lanes and the scheduler. On the wall clock it returns at once (the
        runtime runs in its own threads); on the simulated clock nothing moves until
        :meth:`run_for`. inactive -> active."""
        with self._transition:
            target = next_state(self.state, Transition.ACTIVATE)
            assert self.loaded is not None and self.power is not None
            chosen = self._choose_budget_mode()
            try:
                plan = self.plan(self.power.mode)
            except InfeasibleError as exc:
                raise self._located(exc) from None
            origin = time.monotonic()
            sources = {name: self._source_for(p.config, origin)
                       for name, p in self.pipelines.items()}
            _wait_until_streaming(sources.values())
            loop = self._new_loop(origin)
            for name, pipeline in self.pipelines.items():
                pipeline.open(sources[name])
            if isinstance(loop, RealtimeLoop) and self.options.freeze_gc:
                _freeze_gc()
            assert self.costs is not None
            session = Session(loop, self.pipelines, self.power, self.bus, self.costs,
                              self.plan, self._power_schedule(), self._power_control())
            self._session = session
            session.start(plan)
            if chosen is not None:
                session.record_decision(chosen, True, 0.0)
            if isinstance(loop, RealtimeLoop):
                self._lower_switch_interval()
                self._thread = threading.Thread(target=self._run_loop, args=(session,),
                                                name="edge-runtime-loop", daemon=True)
                self._thread.start()
            self._state = target

    def run_for(self, seconds: float) -> None:
        """Advance the simulated clock by ``seconds`` (deterministic; tests and planning)."""
        session = self._require_session()
        if not isinstance(session.loop, SimulatedLoop):
            raise RuntimeError("run_for needs the simulated clock (clock='sim'); on the wall "
                               "clock the runtime runs by itself once active")
        # rounded to the nanosecond: ten steps of 0.1 s end at 1.0 s, not at 1.0000000000000002
        session.loop.run_until(round(session.loop.now() + seconds, 9))

    def deactivate(self) -> RunSummary:
        """Stop sources, finish in-flight frames and deliver their outputs; engines stay
        loaded. Returns the activation's summary. active -> inactive."""
        with self._transition:
            target = next_state(self.state, Transition.DEACTIVATE)
            summary = self._stop_session()
            self._state = target
            return summary

    def cleanup(self) -> None:
        """Release engines and sinks. inactive -> unconfigured."""
        with self._transition:
            target = next_state(self.state, Transition.CLEANUP)
            self._release()
            self._state = target

    def shutdown(self) -> None:
        """From any state: stop, release everything, finalize."""
        with self._transition:
            target = next_state(self.state, Transition.SHUTDOWN)
            if self.state is State.ACTIVE:
                self._stop_session()
            if self.loaded is not None:
                self._release()
            self.bus.close()
            self._state = target

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Leaving a ``with`` block shuts the runtime down, whatever state it is in."""
        if self.state is not State.FINALIZED:
            self.shutdown()

    @property
    def finished(self) -> bool:
        """The active session ended by itself (every source played out)."""
        return self._session is not None and self._session.finished.is_set()

    # --- frames in, outputs out -------------------------------------------------------------

    def push(self, pipeline: str, image: npt.NDArray[np.generic] | str,
             stamp: float | None = None, frame_id: str = "", truth: Truth = None) -> bool:
        """Hand a frame (an image; a ``str`` for a text pipeline) to an ``external`` pipeline,
        from any thread. An image pipeline's newest frame replaces a waiting one; a text
        pipeline keeps ``queue_depth`` texts in order before it replaces the oldest (returns
        True: a drop, counted). ``stamp`` and ``frame_id`` come back unchanged on its
        :class:`Output`; ``truth`` (a command's, when the host knows it) is scored live."""
        session = self._require_session()
        target = self.pipelines.get(pipeline)
        if target is None or target.external is None:
            raise ValueError(f"pipeline '{pipeline}' does not take pushed frames (its source "
                             "must be {type: external})")
        if isinstance(image, str) != target.config.is_text:
            wanted = "a str" if target.config.is_text else "an image array"
            raise TypeError(f"pipeline '{pipeline}' takes {wanted}")
        frame = FrameIn(text=image, stamp=stamp, frame_id=frame_id, truth=truth) \
            if isinstance(image, str) else FrameIn(image, stamp, frame_id, truth=truth)
        return session.push(pipeline, frame)

    def subscribe(self, callback: OutputCallback, pipelines: Iterable[str] | None = None,
                  queue_size: int = QUEUE_SIZE) -> Subscription:
        """Call ``callback`` with every :class:`Output` (of ``pipelines``, default all) on a
        runtime thread; a slow callback drops its oldest queued outputs, counted on the
        returned subscription."""
        return self.bus.subscribe(callback, pipelines, queue_size)

    def unsubscribe(self, subscription: Subscription) -> None:
        self.bus.unsubscribe(subscription)

    # --- control -----------------------------------------------------------------------------

    def set_power_mode(self, mode: str | int) -> PowerMode:
        """Switch power mode, from any thread. Checked here: an unknown mode raises a
        UserError listing the modes, and a mode the critical pipelines cannot fit raises
        :class:`InfeasibleError` with the planner's numbers (the module stays where it is).
        Applied by the loop at its next step, with the new mode's plan, so it never races a
        dispatch."""
        power = self._require_power()
        target = power.profile.resolve(mode)
        if self.pipelines:
            try:
                self.plan(target)
            except InfeasibleError as exc:
                raise self._located(exc) from None
        session = self._session
        if session is None:
            power.switch(target.id)
        else:
            session.loop.call_soon_threadsafe(session.switch_power, target)
        return target

    def enable(self, pipeline: str, enabled: bool = True) -> None:
        """Start or stop a pipeline taking frames (its engine stays loaded)."""
        target = self._pipeline(pipeline)
        self._control(lambda: setattr(target, "enabled", enabled),
                      lambda session: session.set_enabled(pipeline, enabled))

    def set_rate(self, pipeline: str, hz: float | None) -> None:
        """Change a pipeline's processing rate (None: back to its configured rate)."""
        if hz is not None and hz <= 0:
            raise ValueError(f"rate must be positive, got {hz}")
        target = self._pipeline(pipeline)
        self._control(lambda: setattr(target, "rate_override", hz),
                      lambda session: session.set_rate(pipeline, hz))

    def _control(self, inactive: Callable[[], None], active: Callable[[Session], None]) -> None:
        """A control request: applied now when no session runs, else posted to its loop (it
        runs there at the next step, never racing a dispatch)."""
        session = self._session
        if session is None:
            inactive()
        else:
            session.loop.call_soon_threadsafe(active, session)

    def reload(self, pipelines: str | Path | LoadedPipelineSet,
               progress: Progress | None = None) -> ReloadReport:
        """Swap in a changed pipeline set. Changed engines are built first, while the old
        ones keep running; then changed pipelines are swapped at one loop step. Pipelines
        whose config is unchanged (critical ones included) run on untouched."""
        with self._transition:
            if self.state not in (State.INACTIVE, State.ACTIVE):
                raise RuntimeError(f"cannot reload a runtime that is {self.state.value}")
            assert self.loaded is not None and self.engine_set is not None
            new = self._load(pipelines)
            if new.profile.module != self.loaded.profile.module:
                raise UserError(f"the new pipeline set is for {new.profile.module}, this "
                                f"runtime runs {self.loaded.profile.module}; restart to "
                                "change device", key="device")
            self._check_injected(new)
            report = _diff(self.loaded, new)
            build = report.added + report.changed
            engines = self.engine_set.load(new, build, progress)
            report.engines = [engines[name].info for name in build]
            self._retired += self.engine_set.install(engines)
            self._retired += self.engine_set.remove(report.removed)
            configs = {p.name: p for p in new.config.pipelines}
            fresh = {name: self._make_pipeline(configs[name], engines[name]) for name in build}
            self._swap(fresh, report.removed)
            self.loaded = new
            self._spec = pipelines
            return report

    # --- reporting ---------------------------------------------------------------------------

    @property
    def engines(self) -> list[EngineInfo]:
        """Each pipeline's configured engine."""
        if self.engine_set is None:
            return []
        return [e.info for e in self.engine_set.engines.values()]

    @property
    def all_engines(self) -> list[EngineInfo]:
        """Every engine built, each pipeline's variants after its configured one."""
        if self.engine_set is None:
            return []
        return [v.info for e in self.engine_set.engines.values() for v in e.all_variants]

    def status(self) -> RuntimeStatus:
        """A snapshot, cheap enough to take at 10 Hz from any thread."""
        session = self._session
        power = self.power
        now = session.loop.now() if session is not None else 0.0
        mode = power.mode.label if power is not None else "-"
        lanes: dict[str, float] = {}
        busy: dict[str, float] = {}
        idle_s = None
        if session is not None:
            lanes = session.metrics.utilisation(now).get(mode, {})
            busy = session.lanes_busy_s(now)
            idle_s = round(max(now - session.last_turn, 0.0), 6)
            now -= session.started_at
        pipelines = {name: self._pipeline_status(pipeline, session)
                     for name, pipeline in self.pipelines.items()}
        device = power.device.name if power is not None else "-"
        plan = session.plan.to_dict() if session is not None and session.plan else None
        telemetry = session.telemetry if session is not None else None
        measured = telemetry is not None and telemetry.source != "simulated" \
            and telemetry.module_w is not None
        watts = telemetry.module_w if measured and telemetry is not None else \
            self._watts(lanes, mode) if session is not None else None
        return RuntimeStatus(self.state.value, self._clock_name, round(now, 6), mode, watts,
                             measured, device, pipelines, lanes, busy, idle_s, plan,
                             telemetry_dict(telemetry) if telemetry is not None else None,
                             list(session.decisions) if session is not None else [],
                             session.shed if session is not None else None)

    def summary(self) -> RunSummary:
        """The summary of the current activation (so far) or of the last one."""
        if self._session is not None:
            return self._summarise(self._session)
        if self._last_summary is None:
            raise RuntimeError("the runtime has not been active yet")
        return self._last_summary

    # --- internals: loading ------------------------------------------------------------------

    def _load(self, spec: str | Path | LoadedPipelineSet) -> LoadedPipelineSet:
        return spec if isinstance(spec, LoadedPipelineSet) else load_pipeline_set(spec)

    def _check_injected(self, loaded: LoadedPipelineSet) -> None:
        names = {p.name for p in loaded.config.pipelines}
        unknown = sorted(set(self._given_sources) - names)
        if unknown:
            raise ValueError(f"sources given for pipelines that {loaded.path} does not have: "
                             f"{unknown}")

    def _open_device(self, loaded: LoadedPipelineSet) -> None:
        """The power device and the simulator the mock engines price latency on."""
        if self.power is not None:
            return
        initial = loaded.profile.resolve(self.options.power_mode) \
            if self.options.power_mode is not None else loaded.initial_mode
        device = self._given_device
        if device is None:
            device = SimulatedJetson(loaded.profile, initial)
        elif device.mode.id != initial.id:
            device.apply_mode(initial)
        self.simulator = device if isinstance(device, SimulatedJetson) \
            else SimulatedJetson(loaded.profile, initial)
        self.power = PowerManager(loaded.profile, device)
        if self.simulator is not device:
            simulator = self.simulator
            self.power.subscribe(lambda _old, new: simulator.apply_mode(new))
        context = EngineContext(cache=EngineCache(self.options.cache_dir),
                                device=self.simulator, cpu_threads=self.options.cpu_threads)
        self.engine_set = EngineSet(context, self.options.backend, self.options.mock_outputs)
        self._prior = EnginePrior(loaded.profile)
        self.costs = CostModel(self._prior)

    def _make_pipeline(self, config: PipelineConfig, engine: LoadedEngine) -> Pipeline:
        power, prior = self._require_power(), self._prior
        assert prior is not None
        for variant in engine.all_variants:
            runner = variant.runner
            on_module = not runner.remote and \
                not (power.device.simulated and not runner.simulated_timing)
            prior.add(runner, WarmUp(variant.expected_run_s, power.mode.label, on_module,
                                     variant.sequences))
        return Pipeline(config, engine.runner, engine.real_outputs,
                        [v.runner for v in engine.alternatives])

    def _add_pipeline(self, config: PipelineConfig, engine: LoadedEngine) -> None:
        self.pipelines[config.name] = self._make_pipeline(config, engine)
        self._open_sinks(config)

    def _open_sinks(self, config: PipelineConfig) -> None:
        opened: list[tuple[Sink, Subscription]] = []
        try:
            for index, sink_config in enumerate(config.sinks):
                sink = open_sink(sink_config, config.name)
                opened.append((sink, self.bus.subscribe(
                    SinkSubscriber(sink), [config.name], name=f"{config.name}-sink{index}",
                    on_error=functools.partial(self._sink_failed, config.name))))
        except BaseException:
            _close_sinks(self.bus, opened)
            raise
        self._sinks[config.name] = opened

    def _sink_failed(self, name: str, output: Output, exc: Exception) -> None:
        del output
        session = self._session
        if session is not None:
            session.sink_failed(name, exc)

    def _release(self) -> None:
        for opened in self._sinks.values():
            _close_sinks(self.bus, opened)
        self._sinks.clear()
        release(self._retired)
        self._retired = []
        if self.engine_set is not None:
            self.engine_set.release_all()
        self.pipelines = {}
        self.loaded = None

    # --- internals: running ------------------------------------------------------------------

    @property
    def _clock_name(self) -> str:
        return self._clock if isinstance(self._clock, str) else "custom"

    def _new_loop(self, origin: float) -> EventLoop:
        if self._clock == "wall":
            return RealtimeLoop(origin)
        if self._clock == "sim":
            return SimulatedLoop(self.options.pace)
        assert callable(self._clock)
        return self._clock()

    def _source_for(self, config: PipelineConfig, origin: float) -> Source:
        """The source of a pipeline for an activation whose clock starts at ``origin``
        (``time.monotonic()``, on the wall clock)."""
        if config.name in self._given_sources:
            return self._given_sources[config.name]
        if self._clock == "wall" and self.options.camera_processes \
                and isinstance(config.source, SyntheticCameraSource):
            from edge_runtime.pipelines.camera_process import open_wall_clock_source

            return open_wall_clock_source(config.source, origin)
        return open_source(config.source, config.name, text=config.is_text,
                           keep=config.queue_depth)

    def _power_schedule(self) -> list[tuple[float, PowerMode]]:
        assert self.loaded is not None
        schedule = self.options.power_schedule
        if schedule is None:
            schedule = [(s.at_s, s.mode) for s in self.loaded.config.power_schedule]
        return [(at_s, self.loaded.profile.resolve(mode)) for at_s, mode in schedule]

    def plan(self, mode: PowerMode | str | int | None = None,
             pipelines: Mapping[str, Pipeline] | None = None, shed: str | None = None) -> Plan:
        """What the planner gives each pipeline in ``mode`` (default: the current one), from
        the cost model's figures for that mode; raises :class:`InfeasibleError` when critical
        pipelines cannot fit it. ``shed`` (why) asks for the shed plan the power governor
        uses: non-critical load at its floors. Applies nothing: a what-if (the session
        applies plans at activate and at every switch, for its own ``pipelines``)."""
        pipelines = self.pipelines if pipelines is None else pipelines
        power = self._require_power()
        target = power.mode if mode is None else \
            mode if isinstance(mode, PowerMode) else power.profile.resolve(mode)
        assert self.costs is not None and self.simulator is not None
        lanes = {lane.value for lane in self.simulator.lanes()}
        lanes |= {r.lane for p in pipelines.values() for r in p.variants.values()}
        return plan_pipelines(pipelines, self.costs, target, lanes, shed)

    # --- internals: power ----------------------------------------------------------------------

    def _modes_by_power(self) -> list[PowerMode]:
        """The profile's modes, lowest budget first (an uncapped MAXN last)."""
        power = self._require_power()
        return sorted(power.profile.modes,
                      key=lambda m: (m.budget_w is None, m.budget_w or 0.0, m.id))

    def plan_watts(self, plan: Plan) -> float:
        """The simulated module's predicted power for ``plan`` (its lanes at the utilisation
        the plan grants, in the plan's mode): what the budget policy compares."""
        return self._watts({lane: check.utilisation for lane, check in plan.lanes.items()},
                           plan.mode)

    def mode_options(self) -> list[ModeOption]:
        """Per power mode, lowest first: whether the set fits, the frames per second the plan
        grants (over the pipelines it does not pause), and the predicted watts (a what-if:
        what ``power: {budget_w}`` chooses from)."""
        options = []
        for mode in self._modes_by_power():
            try:
                plan = self.plan(mode)
            except InfeasibleError:
                options.append(ModeOption(mode.label, False, 0.0, math.inf))
                continue
            rates = sum(g.rate_hz or 0.0 for g in plan.grants.values() if not g.paused)
            options.append(ModeOption(mode.label, True, rates, self.plan_watts(plan)))
        return options

    def _choose_budget_mode(self) -> Decision | None:
        """With ``power: {budget_w}``: switch, before anything runs, to the mode with the
        most schedulable throughput whose predicted power fits the budget (the governor's
        :func:`choose_mode`); the decision, or None without a budget."""
        assert self.loaded is not None
        policy = self.loaded.config.power
        if policy.budget_w is None or not self.pipelines:
            return None
        try:
            label, reason = choose_mode(self.mode_options(), policy.budget_w)
        except ValueError:
            return None  # activate's own plan says which lane and by how much
        self._require_power().switch(label)
        return Decision(Step.CHOOSE, reason, label)

    def _power_control(self) -> PowerControl:
        """The session's power sampler and, for a governed ``power:``, its governor."""
        assert self.loaded is not None and self.power is not None
        policy = self.loaded.config.power
        governor = None
        if policy.governed:
            settings = GovernorSettings(
                budget_w=policy.budget_w, max_temp_c=policy.max_temp_c if policy.auto else None,
                hold_s=policy.hold_s, recover_s=policy.recover_s, margin_w=policy.margin_w,
                margin_c=policy.margin_c)
            governor = Governor(settings, [m.label for m in self._modes_by_power()],
                                self.power.mode.label)
        return PowerControl(self._sample_power, 1.0 / policy.sample_hz, governor)

    def _sample_power(self, seconds: float, utilisation: Mapping[str, float]) -> Telemetry:
        """The simulated module heats by what ``utilisation`` costs in the current mode; a
        real one reads its own sensors."""
        power = self._require_power()
        device = power.device
        if isinstance(device, SimulatedJetson):
            device.heat(self._watts(utilisation, power.mode.label), seconds)
        return device.telemetry()

    def _located(self, exc: InfeasibleError) -> InfeasibleError:
        """An infeasible plan as a user's error against the pipeline set's file."""
        assert self.loaded is not None
        return exc.located(str(self.loaded.path))

    def _run_loop(self, session: Session) -> None:
        try:
            session.loop.run()
        except BaseException:  # a bug in the mechanism: log it, end the session cleanly
            log.exception("the runtime's loop stopped on an error")
            session.ending = True

    def _stop_session(self) -> RunSummary:
        session = self._require_session()
        if isinstance(session.loop, RealtimeLoop):
            session.loop.call_soon_threadsafe(session.end)
            if self._thread is not None:
                self._thread.join(STOP_TIMEOUT_S)
                self._thread = None
            self._restore_switch_interval()
            if self.options.freeze_gc:
                gc.unfreeze()
        else:
            session.end()
            session.loop.run()
        session.close()
        self.bus.flush()  # every subscriber, the sinks' included
        for opened in self._sinks.values():
            for sink, _ in opened:
                sink.flush()
        for name, pipeline in self.pipelines.items():
            pipeline.close(owned=name not in self._given_sources)
        release(self._retired)
        self._retired = []
        summary = self._summarise(session)
        self._last_summary = summary
        self._session = None
        return summary

    def _swap(self, fresh: dict[str, Pipeline], removed: list[str]) -> None:
        for name in removed + list(fresh):
            if name in self._sinks:
                _close_sinks(self.bus, self._sinks.pop(name))
        for pipeline in fresh.values():
            self._open_sinks(pipeline.config)
        session = self._session
        if session is None:
            for name in removed:
                self.pipelines.pop(name, None)
            self.pipelines.update(fresh)
            return
        origin = session.loop.origin if isinstance(session.loop, RealtimeLoop) else 0.0
        for pipeline in fresh.values():
            pipeline.open(self._source_for(pipeline.config, origin))
        old = {name: self.pipelines[name] for name in removed + list(fresh)
               if name in self.pipelines}
        applied = threading.Event()

        def swap_on_loop() -> None:
            session.swap(fresh, removed)
            applied.set()

        if isinstance(session.loop, RealtimeLoop):
            session.loop.call_soon_threadsafe(swap_on_loop)
            applied.wait(STOP_TIMEOUT_S)
        else:  # the host drives a simulated loop from this thread: swap at the current instant
            swap_on_loop()
        for name in removed:
            self.pipelines.pop(name, None)
        self.pipelines.update(fresh)
        for name, pipeline in old.items():
            pipeline.close(owned=name not in self._given_sources)

    def _lower_switch_interval(self) -> None:
        wanted = self.options.switch_interval_s
        if wanted is not None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(wanted)

    def _restore_switch_interval(self) -> None:
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    # --- internals: reporting ----------------------------------------------------------------

    def _pipeline_status(self, pipeline: Pipeline, session: Session | None) -> PipelineStatus:
        frames = drops = misses = late = 0
        p50 = p99 = None
        hz = 0.0
        if session is not None and pipeline.name in session.metrics.pipelines:
            frames, drops, misses, p50, p99 = session.metrics.totals(pipeline.name)
            late = session.metrics.late_drops(pipeline.name)
            hz = session.metrics.recent_hz(pipeline.name, session.loop.now())
        faults = pipeline.faults
        return PipelineStatus(
            pipeline.name, pipeline.health.value, pipeline.runner.lane,
            pipeline.config.priority.value, pipeline.rate_hz, round(hz, 3),
            _ms(p50), _ms(p99), frames, misses, drops, faults.bad_frames, faults.error_counts(),
            faults.restarts, faults.last_error, late, pipeline.variant, pipeline.wanted_rate_hz,
            pipeline.reason)

    def _watts(self, utilisation: Mapping[str, float], mode_label: str) -> float:
        """The simulated module's power for lane utilisation in a mode, kept per (mode,
        utilisation to 0.1 %): the device model is pure, and the status asks at 10 Hz."""
        assert self.simulator is not None and self.loaded is not None
        key = (f"{mode_label}@{self.simulator.clock_ratio:g}",
               tuple(sorted((k, round(v, 3)) for k, v in utilisation.items())))
        if key not in self._watts_cache:
            mode = self.loaded.profile.resolve(mode_label)
            lanes = {Lane(k): v for k, v in key[1] if k in {m.value for m in Lane}}
            if len(self._watts_cache) > 4096:
                self._watts_cache.clear()
            self._watts_cache[key] = round(self.simulator.power_w(lanes, mode), 3)
        return self._watts_cache[key]

    def _summarise(self, session: Session) -> RunSummary:
        assert self.loaded is not None and self.power is not None
        end = session.ended_at if session.ended_at is not None else session.loop.now()
        utilisation = session.metrics.utilisation(end)
        overruns = {name: int(getattr(p.runner, "host_overruns", 0))
                    for name, p in self.pipelines.items()}
        faults = {name: {"state": p.health.value, "errors": p.faults.error_counts(),
                         "bad_frames": p.faults.bad_frames, "restarts": p.faults.restarts}
                  for name, p in self.pipelines.items()}
        return summarise(
            device=self.loaded.profile, clock=self._clock_name,
            duration_s=end - session.started_at,
            table=session.metrics.table(end), utilisation=utilisation,
            watts={mode: self._watts(util, mode) for mode, util in utilisation.items()},
            mode_seconds=session.metrics.mode_seconds(end), engines=self.engines,
            lateness=session.loop.lateness, host_overruns=overruns,
            power_switches=self.power.switches, faults=faults,
            plans={mode: plan.to_dict() for mode, plan in session.plans.items()},
            refused_switches=list(session.refused_switches),
            cost_replans=list(session.cost_replans), governor=list(session.decisions),
            batches=session.metrics.batch_histogram())

    def _require_session(self) -> Session:
        if self._session is None or self.state is not State.ACTIVE:
            raise RuntimeError(f"the runtime is {self.state.value}, not active")
        return self._session

    def _require_power(self) -> PowerManager:
        if self.power is None:
            raise RuntimeError("the runtime is not configured yet")
        return self.power

    def _pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            raise ValueError(f"no pipeline '{name}' (known: {sorted(self.pipelines)})") from None


def _wait_until_streaming(sources: Iterable[Source], timeout_s: float = 10.0) -> None:
    """Wait (all at once) for sources that take a while to start, as opening a camera does:
    the camera processes of the simulated world need half a second to import and render."""
    deadline = time.monotonic() + timeout_s
    for source in sources:
        wait_ready = getattr(source, "wait_ready", None)
        if callable(wait_ready) and not wait_ready(max(deadline - time.monotonic(), 0.0)):
            log.warning("a camera process did not deliver a frame within %.0f s; its "
                        "pipeline takes frames once it does", timeout_s)


def _freeze_gc() -> None:
    gc.collect()
    gc.freeze()


def _diff(old: LoadedPipelineSet, new: LoadedPipelineSet) -> ReloadReport:
    before = {p.name: p for p in old.config.pipelines}
    report = ReloadReport()
    for pipeline in new.config.pipelines:
        name = pipeline.name
        if name not in before:
            report.added.append(name)
        elif pipeline != before[name] or new.recipes[name] != old.recipes[name]:
            report.changed.append(name)
        else:
            report.unchanged.append(name)
    after = {p.name for p in new.config.pipelines}
    report.removed = [name for name in before if name not in after]
    return report


def _close_sinks(bus: OutputBus, opened: list[tuple[Sink, Subscription]]) -> None:
    for sink, subscription in opened:
        bus.unsubscribe(subscription)
        sink.close()


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1e3, 3) if seconds is not None else None


__all__ = ["Output", "ReloadReport", "Runtime", "RuntimeOptions"]
