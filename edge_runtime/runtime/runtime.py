"""The runtime: a pipeline set, its engines and the scheduler, run on one clock.

Per frame: a source tick captures and preprocesses a frame and submits it to the scheduler; the
scheduler decides which waiting frame each idle lane runs; the lane runs the engine and reports
back; the output stage decodes, scores and writes the result and records its latency (capture to
output). Power switches are timed events like any other. Everything here is mechanism: every
decision is the scheduler's (``edge_runtime.scheduler.core``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge_runtime.config.loading import LoadedPipelineSet, resolve_mode
from edge_runtime.config.recipe import BackendName, MockOutputs
from edge_runtime.engines.base import BaseRunner, Outputs
from edge_runtime.engines.cache import EngineCache
from edge_runtime.engines.registry import (
    EngineContext,
    build_engine,
    make_runner,
    resolve_backend,
)
from edge_runtime.optimize.data import PipelineData
from edge_runtime.optimize.progress import Progress
from edge_runtime.optimize.stages import needs_pipeline
from edge_runtime.power.manager import PowerManager
from edge_runtime.runtime.metrics import RunMetrics
from edge_runtime.runtime.stages import PipelineStages
from edge_runtime.runtime.summary import EngineInfo, RunSnapshot, RunSummary, summarise
from edge_runtime.runtime.workers import (
    InlineOutput,
    SimulatedLane,
    ThreadedLane,
    ThreadedOutput,
)
from edge_runtime.scheduler.core import Job, PipelineSpec, Scheduler
from edge_runtime.scheduler.loop import EventLoop, RealtimeLoop, SimulatedLoop
from edge_runtime.sim.device_model import Lane
from edge_runtime.sim.jetson import SimulatedJetson

Observer = Callable[[RunSnapshot], None]
#: How long in-flight inferences may take to finish after the end of a run.
DRAIN_S = 10.0


@dataclass
class RunOptions:
    """How to run a pipeline set (the CLI's flags; every field has a sensible default)."""

    duration_s: float = 10.0
    clock: Literal["wall", "sim"] = "wall"
    pace: float | None = None
    backend: BackendName | None = None
    power_mode: str | int | None = None
    power_schedule: list[tuple[float, str | int]] | None = None
    mock_outputs: MockOutputs | None = None
    cache_dir: Path | None = None
    cpu_threads: int | None = None
    observe_every_s: float = 0.5


@dataclass
class _Pipeline:
    stages: PipelineStages
    expected_run_s: float | None = None
    next_tick: int = 0
    exhausted: bool = False
    waiting_for_dispatch: bool = False


@dataclass
class _RunState:
    loop: EventLoop
    scheduler: Scheduler
    lanes: dict[str, Any]
    output: Any
    metrics: RunMetrics
    ending: bool = False
    ended_at: float | None = None
    error: BaseException | None = None
    stop_requested: bool = False
    dispatch_pending: bool = False


class Runtime:
    """Builds the engines of a pipeline set and runs them together."""

    def __init__(self, loaded: LoadedPipelineSet, options: RunOptions) -> None:
        self.loaded = loaded
        self.options = options
        initial = resolve_mode(loaded.profile, options.power_mode) \
            if options.power_mode is not None else loaded.initial_mode
        self.device = SimulatedJetson(loaded.profile, initial)
        self.power = PowerManager(loaded.profile, self.device)
        self.context = EngineContext(cache=EngineCache(options.cache_dir), device=self.device,
                                     realtime=options.clock == "wall",
                                     cpu_threads=options.cpu_threads)
        self.engines: dict[str, EngineInfo] = {}
        self.pipelines: dict[str, _Pipeline] = {}
        self._state: _RunState | None = None

    # --- preparation -----------------------------------------------------------------------

    def prepare(self, progress: Progress | None = None) -> list[EngineInfo]:
        """Build (or load from the cache) every engine and open every pipeline's stages."""
        artifacts: dict[tuple[Path, BackendName, str, str], Any] = {}
        for pipeline in self.loaded.config.pipelines:
            recipe = self.loaded.recipes[pipeline.name]
            backend = resolve_backend(self.options.backend, recipe)
            data = PipelineData(pipeline.source, pipeline.preprocess, pipeline.postprocess) \
                if needs_pipeline(recipe) else None
            key = (Path(recipe.onnx), backend, recipe.model_dump_json(),
                   pipeline.name if data is not None else "")
            if key not in artifacts:
                artifacts[key] = build_engine(recipe, backend, self.context, progress=progress,
                                              pipeline=data)
            built = artifacts[key]
            mock_outputs = self.options.mock_outputs or pipeline.engine.mock_outputs
            runner = make_runner(built.artifact, self.context, mock_outputs)
            real = backend is not BackendName.MOCK or \
                getattr(runner, "outputs_mode", None) is MockOutputs.ONNXRUNTIME
            runner.activate()
            self.pipelines[pipeline.name] = _Pipeline(PipelineStages(pipeline, runner, real),
                                                      expected_run_s=runner.warmup())
            manifest = built.artifact.manifest
            self.engines[pipeline.name] = EngineInfo(
                pipeline.name, manifest.name, manifest.backend, manifest.lane,
                manifest.precision, built.cache_hit, round(built.seconds, 4), manifest.key,
                real, list(manifest.notes))
        return list(self.engines.values())

    # --- running ---------------------------------------------------------------------------

    def run(self, observer: Observer | None = None) -> RunSummary:
        """Run for ``duration_s`` (or until :meth:`stop`), then drain and summarise."""
        if not self.pipelines:
            self.prepare()
        realtime = self.options.clock == "wall"
        loop: EventLoop = RealtimeLoop() if realtime else SimulatedLoop(self.options.pace)
        lane_names = sorted({p.stages.runner.lane for p in self.pipelines.values()})
        lanes = {name: ThreadedLane(name, loop) if isinstance(loop, RealtimeLoop)
                 else SimulatedLane(name, loop) for name in lane_names}
        scheduler = Scheduler(lane_names)
        for name, pipeline in self.pipelines.items():
            cfg = pipeline.stages.config
            rate = pipeline.stages.rate_hz
            scheduler.add_pipeline(PipelineSpec(
                name, pipeline.stages.runner.lane, cfg.priority.rank,
                cfg.deadline_ms / 1e3 if cfg.deadline_ms else None, cfg.queue_depth,
                1.0 / rate if rate else None, pipeline.expected_run_s))
        metrics = RunMetrics(list(self.pipelines), lane_names)
        state = _RunState(loop, scheduler, lanes,
                          ThreadedOutput() if realtime else InlineOutput(), metrics)
        self._state = state
        metrics.mode_changed(self.power.mode.label, 0.0)
        self.power.subscribe(lambda _old, new: metrics.mode_changed(new.label, loop.now()))
        self._schedule_start(state, observer)
        try:
            loop.run()
        finally:
            self._teardown(state)
        if state.error is not None:
            raise state.error
        return self._summary(state)

    def stop(self) -> None:
        """Ask the run to end (safe from signal handlers and other threads)."""
        if self._state is not None:
            self._state.stop_requested = True
            if isinstance(self._state.loop, RealtimeLoop):
                self._state.loop.call_soon_threadsafe(lambda: None)

    def _schedule_start(self, state: _RunState, observer: Observer | None) -> None:
        loop = state.loop
        for name, pipeline in self.pipelines.items():
            loop.call_at(0.0, self._tick, name)
            if isinstance(loop, RealtimeLoop):
                pipeline.stages.source.prefetch(0.0)
        schedule = self.options.power_schedule
        if schedule is None:
            schedule = [(s.at_s, s.mode) for s in self.loaded.config.power_schedule]
        for at_s, mode in schedule:
            loop.call_at(at_s, self.power.switch, mode)
        loop.call_at(self.options.duration_s, self._end)
        loop.call_at(0.0, self._watch, observer)

    def _watch(self, observer: Observer | None) -> None:
        """Periodic: honour stop requests and feed the live display."""
        state = self._require_state()
        if state.stop_requested and not state.ending:
            self._end()
        if state.ending:
            return
        if observer is not None:
            observer(self.snapshot())
        state.loop.call_later(min(self.options.observe_every_s, 0.1) if observer is None
                              else self.options.observe_every_s, self._watch, observer)

    def _tick(self, name: str) -> None:
        state = self._require_state()
        if state.ending:
            return
        pipeline = self.pipelines[name]
        stages = pipeline.stages
        now = state.loop.now()
        frame = stages.capture(now)
        if frame is None:
            pipeline.exhausted = True
            if all(p.exhausted for p in self.pipelines.values()):
                self._end()
            return
        feed = stages.feed(frame)
        submitted = state.scheduler.submit(name, frame.index, frame.capture_time, now,
                                           (frame, feed))
        if submitted.dropped:
            state.metrics.dropped(name, len(submitted.dropped))
        rate = stages.rate_hz
        if rate is not None:
            tick = max(pipeline.next_tick + 1, math.floor(now * rate + 1e-9) + 1)
            pipeline.next_tick = tick
            state.loop.call_at(tick / rate, self._tick, name)
            if isinstance(state.loop, RealtimeLoop):
                stages.source.prefetch(tick / rate)
        else:
            pipeline.waiting_for_dispatch = True
        self._request_dispatch()

    def _request_dispatch(self) -> None:
        """Decide once every event of this instant has been handled: frames that arrive
        together compete together (a best-effort frame must not grab the lane just because its
        tick was handled a moment before a critical one)."""
        state = self._require_state()
        if not state.dispatch_pending:
            state.dispatch_pending = True
            state.loop.call_at(state.loop.now(), self._dispatch)

    def _dispatch(self) -> None:
        state = self._require_state()
        state.dispatch_pending = False
        if state.ending:
            return
        for job in state.scheduler.decide(state.loop.now()):
            stages = self.pipelines[job.pipeline].stages
            _, feed = job.payload
            runner = stages.runner
            state.lanes[job.lane].dispatch(functools.partial(runner.infer, feed),
                                           functools.partial(self._done, job),
                                           functools.partial(_device_time, runner))
            pipeline = self.pipelines[job.pipeline]
            if pipeline.waiting_for_dispatch:
                pipeline.waiting_for_dispatch = False
                state.loop.call_later(0.0, self._tick, job.pipeline)

    def _done(self, job: Job, outputs: Outputs | None, error: BaseException | None) -> None:
        state = self._require_state()
        now = state.loop.now()
        state.scheduler.complete(job, now)
        if error is not None:
            state.error = state.error or error
            self._end()
        else:
            assert job.started is not None and outputs is not None
            state.metrics.lane_busy(job.lane, now - job.started)
            state.output.submit(self._finish, job, outputs)
        if state.ending:
            if all(state.scheduler.running(lane) is None for lane in state.scheduler.lanes):
                state.loop.stop()
        else:
            self._request_dispatch()

    def _finish(self, job: Job, outputs: Outputs) -> None:
        """Decode, score, record and write one output (output thread, or inline)."""
        state = self._require_state()
        try:
            frame, _ = job.payload
            stages = self.pipelines[job.pipeline].stages
            result = stages.decode(outputs)
            done_at = state.loop.now()
            latency = done_at - frame.capture_time
            missed = job.deadline is not None and done_at > job.deadline
            state.metrics.output(job.pipeline, latency, missed, done_at,
                                 result if stages.real_outputs else None, frame.truth)
            stages.emit(frame, result, outputs, latency, state.metrics.current_mode())
        except BaseException as exc:
            state.error = state.error or exc
            state.stop_requested = True

    def _end(self) -> None:
        state = self._require_state()
        if state.ending:
            return
        state.ending = True
        state.ended_at = state.loop.now()
        if all(state.scheduler.running(lane) is None for lane in state.scheduler.lanes):
            state.loop.stop()
        else:
            state.loop.call_later(DRAIN_S, state.loop.stop)

    def _teardown(self, state: _RunState) -> None:
        for lane in state.lanes.values():
            lane.close()
        state.output.close()
        for pipeline in self.pipelines.values():
            pipeline.stages.close()
            pipeline.stages.runner.deactivate()

    def _require_state(self) -> _RunState:
        assert self._state is not None, "the runtime is not running"
        return self._state

    # --- reporting -------------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        state = self._require_state()
        now = state.loop.now()
        return RunSnapshot(
            now=now, duration_s=self.options.duration_s, mode=self.power.mode.label,
            table=state.metrics.table(now),
            recent_hz={p: state.metrics.recent_hz(p, now) for p in self.pipelines},
            utilisation=state.metrics.utilisation(now),
            watts=self._watts(state.metrics, now),
        )

    def _watts(self, metrics: RunMetrics, now: float) -> dict[str, float]:
        watts = {}
        for label, util in metrics.utilisation(now).items():
            mode = resolve_mode(self.loaded.profile, label)
            lanes = {Lane(k): v for k, v in util.items() if k in {m.value for m in Lane}}
            watts[label] = round(self.device.power_w(lanes, mode), 3)
        return watts

    def _summary(self, state: _RunState) -> RunSummary:
        end = state.ended_at if state.ended_at is not None else state.loop.now()
        overruns = {name: int(getattr(p.stages.runner, "host_overruns", 0))
                    for name, p in self.pipelines.items()}
        return summarise(
            device=self.loaded.profile, clock=self.options.clock, duration_s=end,
            table=state.metrics.table(end), utilisation=state.metrics.utilisation(end),
            watts=self._watts(state.metrics, end), mode_seconds=state.metrics.mode_seconds(end),
            engines=list(self.engines.values()), lateness=state.loop.lateness,
            host_overruns=overruns, power_switches=self.power.switches,
        )


def _device_time(runner: BaseRunner) -> float:
    return runner.last_device_time_s
