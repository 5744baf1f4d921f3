"""One activation of a runtime: the loop-side mechanism that moves frames through pipelines.

Per frame: a source tick captures a frame and submits it to the scheduler (its input is
prepared now if it will probably run, else when it is dispatched); the scheduler decides which
waiting frame each idle lane runs; the lane runs the engine and reports back; the output stage
decodes the result, records it and publishes an :class:`~edge_runtime.runtime.outputs.Output`.
Power switches and control requests from the host are events on the same loop, so none of them
races a dispatch. Everything here is mechanism: every decision is the scheduler's
(``edge_runtime.scheduler.core``), every fault rule is ``runtime.faults``'.

Everything runs on the loop's thread except the engines (lane threads on the wall clock) and
decoding (an output thread); both post back to the loop. On the simulated clock all of it runs
inline, so a run repeats exactly.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from edge_runtime.config.power import PowerMode
from edge_runtime.engines.base import BaseRunner
from edge_runtime.errors import EngineUnavailableError
from edge_runtime.graph.tensors import Feed, Outputs
from edge_runtime.pipelines.output import Output, RawTensors
from edge_runtime.pipelines.sources import BadFrameError, Empty, Frame, FrameIn
from edge_runtime.power.manager import PowerManager
from edge_runtime.power.telemetry import Telemetry
from edge_runtime.runtime.engine_set import PROFILE_LENGTHS
from edge_runtime.runtime.faults import Stage
from edge_runtime.runtime.metrics import RunMetrics
from edge_runtime.runtime.outputs import OutputBus
from edge_runtime.runtime.pipeline import Pipeline
from edge_runtime.runtime.workers import (
    InlineOutput,
    SimulatedLane,
    ThreadedLane,
    ThreadedOutput,
)
from edge_runtime.scheduler.core import Job, PipelineSpec, Scheduler
from edge_runtime.scheduler.costs import Cost, CostKey, CostModel, drift
from edge_runtime.scheduler.governor import Decision, Governor, Reading, Step
from edge_runtime.scheduler.loop import EventLoop, RealtimeLoop
from edge_runtime.scheduler.planner import InfeasibleError, Plan

log = logging.getLogger("edge_runtime.runtime")

#: Lanes that run on the host's own cores (onnxruntime's CPU provider): their runs share the
#: cores with this session's preprocessing (scheduler rule 11).
HOST_CPU_LANES = frozenset({"cpu"})
#: Seconds between probes of a remote engine's server while it is down.
REMOTE_PROBE_S = 2.0
#: The shortest timeout a remote request is given (see ``_time_left``).
MIN_REMOTE_TIMEOUT_S = 0.005
#: How long in-flight inferences may take to finish once a session is asked to end.
DRAIN_S = 10.0
#: How often the loop wakes with nothing else to do (a stop request needs no more).
IDLE_WAKE_S = 0.25
#: How soon the loop looks again for a camera frame that was due but not in yet.
REPOLL_S = 0.001
#: How often the session compares what its engines cost now with what the plan in force was
#: made with (``scheduler.costs.drift``), and plans again when they parted.
COST_REVIEW_S = 1.0

_In = TypeVar("_In")
_Out = TypeVar("_Out")

#: (A power mode, the pipelines, why to shed non-critical load or None) -> the plan of the
#: pipelines taking frames (``scheduler.planner``); raises :class:`InfeasibleError` when
#: critical pipelines cannot fit it.
Planner = Callable[[PowerMode, Mapping[str, Pipeline], str | None], Plan]
#: (seconds since the last sample, lane utilisation over them) -> what the module measures
#: now (the simulated Jetson heats by the power that utilisation costs; a real one reads its
#: sensors).
PowerSampler = Callable[[float, Mapping[str, float]], Telemetry]
#: How many governor decisions the session keeps for status() and the summary.
DECISIONS_KEPT = 64


@dataclass(frozen=True)
class PowerControl:
    """How a session samples the module's power and who decides on it (both optional)."""

    sampler: PowerSampler | None = None
    sample_s: float = 0.5
    governor: Governor | None = None


class LaneWorker(Protocol):
    def dispatch(self, runner: BaseRunner, feed: Feed,
                 done: Callable[[Outputs | None, BaseException | None], None]) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Payload:
    """What a job carries: its frame and, once prepared, the engine's feed."""

    pipeline: Pipeline
    frame: Frame
    feed: Feed | None
    #: The engine the frame was submitted for (a re-plan may move the pipeline meanwhile).
    runner: BaseRunner
    #: How long its run took on the lane (set when it completes).
    run_s: float = 0.0


def pipeline_spec(pipeline: Pipeline, expected_run_s: float | None,
                  expected_tail_s: float | None = None) -> PipelineSpec:
    """What the scheduler knows of a pipeline."""
    cfg = pipeline.config
    rate = pipeline.rate_hz
    runner = pipeline.runner
    batchable = runner.max_batch > 1
    tokens = pipeline.tokens
    sequences = tokens.config.batching if tokens is not None and batchable else None
    return PipelineSpec(pipeline.name, runner.lane, cfg.priority.rank,
                        pipeline.deadline_s, cfg.queue_depth, 1.0 / rate if rate else None,
                        expected_run_s,
                        batch_group(runner) if batchable and tokens is None else None,
                        tuple(range(1, runner.max_batch + 1)), expected_tail_s,
                        None if sequences == "none" else sequences,
                        tokens.config.max_length if tokens is not None else 0,
                        tokens.config.max_padding if tokens is not None else 1.0)


def batch_group(runner: BaseRunner) -> str:
    """Pipelines whose engines are one engine on one lane may be batched together."""
    return f"{runner.name}@{runner.lane}"


def cost_key(pipeline: Pipeline, mode: PowerMode, batch: int = 1) -> CostKey:
    """The cost model's key for a pipeline's current engine in ``mode``."""
    return CostKey(pipeline.runner.name, pipeline.runner.lane, mode.label, batch)


class Session:
    """The loop, scheduler, lanes and metrics of one activation (see the module docstring)."""

    def __init__(self, loop: EventLoop, pipelines: dict[str, Pipeline], power: PowerManager,
                 bus: OutputBus, costs: CostModel, planner: Planner,
                 power_schedule: list[tuple[float, PowerMode]],
                 control: PowerControl | None = None) -> None:
        self.loop = loop
        self.pipelines = dict(pipelines)
        self.power = power
        self.bus = bus
        self.costs = costs
        self.planner = planner
        self.threaded = isinstance(loop, RealtimeLoop)
        lane_names = sorted({r.lane for p in pipelines.values() for r in p.variants.values()})
        self.lanes: dict[str, LaneWorker] = {}
        self.scheduler = Scheduler(lane_names)
        for name in lane_names:
            self.scheduler.add_lane(name, host_cpu=name in HOST_CPU_LANES)
            self._open_lane(name)
        for pipeline in self.pipelines.values():
            self.scheduler.add_pipeline(pipeline_spec(pipeline, *self._expected(pipeline)))
        self.metrics = RunMetrics(list(self.pipelines), lane_names)
        self.output: ThreadedOutput | InlineOutput = \
            ThreadedOutput() if self.threaded else InlineOutput()
        self.power_schedule = power_schedule
        #: The plan in force, and the last plan applied in each mode (for the summary).
        self.plan: Plan | None = None
        self.plans: dict[str, Plan] = {}
        #: Power switches refused because critical pipelines would not fit the new mode.
        self.refused_switches: list[str] = []
        #: Plans made again because run times drifted from the plan's, with why (the first
        #: drifted figure), in order.
        self.cost_replans: list[str] = []
        #: The figures the plan in force was made with, per engine key in use.
        self._plan_costs: dict[CostKey, Cost] = {}
        self.control = control or PowerControl()
        #: The last telemetry sample, the governor's decisions (newest last) and, while the
        #: governor sheds load, why.
        self.telemetry: Telemetry | None = None
        self.decisions: list[dict[str, object]] = []
        self.shed: str | None = None
        self._sampled_at = 0.0
        self._busy_before: dict[str, float] = {}
        self._mode_since = 0.0
        self.ending = False
        self.started_at = 0.0
        self.ended_at: float | None = None
        #: Set when every source is exhausted and nothing is in flight (a file played out).
        self.finished = threading.Event()
        self._generation: dict[str, int] = dict.fromkeys(self.pipelines, 0)
        self._next_tick: dict[str, int] = dict.fromkeys(self.pipelines, 0)
        #: Index of the last frame each pipeline took (a camera read again before its next
        #: frame is in gives the same frame: that is no new frame).
        self._last_index: dict[str, int] = dict.fromkeys(self.pipelines, -1)
        self._waiting_for_dispatch: set[str] = set()
        #: (batch, padded length) shapes each text pipeline has run at (rule 12's table).
        self._seen_lengths: dict[str, set[tuple[int, int]]] = {}
        #: Lanes of remote engines whose server cannot be reached now, with why.
        self._down_lanes: dict[str, str] = {}
        self._dispatch_pending = False
        self._wake_at: float | None = None
        self._drained = False
        #: When (loop clock) the loop last ran one of this session's events: a heartbeat.
        self.last_turn = 0.0
        power.subscribe(self._mode_changed)

    # --- start and end -----------------------------------------------------------------------

    def start(self, plan: Plan) -> None:
        """Apply the activation's ``plan`` and schedule the first events (on the loop, before
        it runs). On the wall clock the loop may start a little after its origin (sources
        took a moment to open): everything counts from the start, not from the origin."""
        self.started_at = start = self.loop.now()
        self._mode_since = start
        self.metrics.mode_changed(self.power.mode.label, start)
        self.apply_plan(plan)
        for name, pipeline in self.pipelines.items():
            if pipeline.taking_frames:
                self._start_ticking(name)
        for at_s, mode in self.power_schedule:
            self.loop.call_at(start + at_s, self.switch_power, mode)
        self.loop.call_at(start, self._wake)
        self.loop.call_at(start + COST_REVIEW_S, self._review_costs)
        self._sampled_at = start
        if self.control.sampler is not None:
            self.loop.call_at(start + self.control.sample_s, self._sample_power)

    def end(self) -> None:
        """Stop taking frames; finish what is in flight, then stop the loop (loop thread)."""
        if self.ending:
            return
        self.ending = True
        self.ended_at = self.loop.now()
        if self._idle():
            self._drain_done()
        else:
            self.loop.call_later(DRAIN_S, self._drain_done)

    def close(self) -> None:
        """Release threads (after the loop has stopped)."""
        for lane in self.lanes.values():
            lane.close()
        self.output.close()
        self.power.unsubscribe(self._mode_changed)

    def _drain_done(self) -> None:
        if not self._drained:
            self._drained = True
            self.loop.stop()

    def _idle(self) -> bool:
        return all(self.scheduler.running(lane) is None for lane in self.scheduler.lanes)

    def _wake(self) -> None:
        self.last_turn = self.loop.now()
        if not self.ending and self.threaded:
            self.loop.call_later(IDLE_WAKE_S, self._wake)

    # --- frames in ---------------------------------------------------------------------------

    def push(self, name: str, frame: FrameIn) -> bool:
        """Hand a host's frame to an external pipeline (any thread); True if it replaced a
        waiting one (a drop)."""
        pipeline = self.pipelines[name]
        source = pipeline.external
        assert source is not None, "checked by the runtime"
        replaced = source.push(frame, self.loop.now())
        if replaced:
            self.metrics.dropped(name)
        self.loop.call_soon_threadsafe(self._tick, name, self._generation[name])
        return replaced

    def _start_ticking(self, name: str) -> None:
        """(Re)start a pipeline's ticks from now; older scheduled ticks become void."""
        self._generation[name] += 1
        pipeline = self.pipelines[name]
        if pipeline.external is not None:
            return  # pushes tick it
        rate = pipeline.rate_hz
        now = self.loop.now()
        self._next_tick[name] = math.ceil(now * rate - 1e-9) if rate else 0
        when = self._next_tick[name] / rate if rate else now
        self.loop.call_at(when, self._tick, name, self._generation[name])
        if rate and self.threaded:
            pipeline.source.prefetch(when)

    def _stop_ticking(self, name: str) -> None:
        self._generation[name] += 1
        self._waiting_for_dispatch.discard(name)
        self.metrics.dropped(name, len(self.scheduler.drop_waiting(name)))
        self.scheduler.pause_protection(name)

    def _tick(self, name: str, generation: int, repoll: bool = False) -> None:
        pipeline = self.pipelines.get(name)
        if (self.ending or pipeline is None or generation != self._generation[name]
                or not pipeline.taking_frames):
            return
        now = self.loop.now()
        frame = self._capture(pipeline, now)
        if frame is Empty.EXHAUSTED:
            pipeline.exhausted = True
            self._check_finished()
            return
        fresh = isinstance(frame, Frame) and frame.index > self._last_index[name]
        if isinstance(frame, Frame) and fresh:
            self._last_index[name] = frame.index
            self._submit(pipeline, frame, now)
        if not repoll:
            self._schedule_next_tick(pipeline, now, captured=fresh)
        if not fresh:
            self._repoll(pipeline, now)

    def _repoll(self, pipeline: Pipeline, now: float) -> None:
        """A periodic camera on the wall clock whose frame due now is not in yet (its driver
        is late, or still starting): look again shortly, until the next tick, rather than
        lose the period or take the previous frame twice."""
        rate = pipeline.rate_hz
        if not self.threaded or rate is None or pipeline.external is not None:
            return
        if now + REPOLL_S < self._next_tick[pipeline.name] / rate:
            self.loop.call_later(REPOLL_S, self._tick, pipeline.name,
                                 self._generation[pipeline.name], True)

    def _capture(self, pipeline: Pipeline, now: float) -> Frame | Empty:
        frame = self._guarded(pipeline, Stage.SOURCE, pipeline.capture, now)
        return Empty.NOTHING_NEW if frame is None else frame

    def _guarded(self, pipeline: Pipeline, stage: Stage, work: Callable[[_In], _Out],
                 argument: _In) -> _Out | None:
        """``work(argument)``, or None when it raised: a bad frame is counted as one, any
        other exception as a failure of ``stage``."""
        try:
            return work(argument)
        except BadFrameError as exc:
            pipeline.faults.bad_frame(exc)
        except Exception as exc:
            self._failed(pipeline, stage, exc)
        return None

    def _schedule_next_tick(self, pipeline: Pipeline, now: float, captured: bool) -> None:
        if pipeline.external is not None:
            return  # pushes tick it
        name = pipeline.name
        rate = pipeline.rate_hz
        if rate is not None:
            tick = max(self._next_tick[name] + 1, math.floor(now * rate + 1e-9) + 1)
            self._next_tick[name] = tick
            self.loop.call_at(tick / rate, self._tick, name, self._generation[name])
            if self.threaded:
                pipeline.source.prefetch(tick / rate)
        elif captured:  # free-running: the next frame once this one is dispatched
            self._waiting_for_dispatch.add(name)
        else:  # a bad frame: try the next one
            self.loop.call_later(0.0, self._tick, name, self._generation[name])

    def _submit(self, pipeline: Pipeline, frame: Frame, now: float) -> None:
        feed = None
        text = pipeline.tokens is not None  # tokenized now: its length decides its batch
        if text or (self.scheduler.likely_to_run(pipeline.name, now)
                    and not self.scheduler.defer_host_work(pipeline.name)):
            feed = self._prepare(pipeline, frame)
            if feed is None:
                return
        length = int(feed["input_ids"].shape[1]) if text and feed is not None else 0
        submitted = self.scheduler.submit(pipeline.name, frame.index, frame.capture_time, now,
                                          _Payload(pipeline, frame, feed, pipeline.runner),
                                          length)
        if submitted.dropped:
            self.metrics.dropped(pipeline.name, len(submitted.dropped))
        self._request_dispatch()

    def _prepare(self, pipeline: Pipeline, frame: Frame) -> Feed | None:
        return self._guarded(pipeline, Stage.PREPROCESS, pipeline.prepare, frame)

    # --- dispatch and completion -------------------------------------------------------------

    def _request_dispatch(self) -> None:
        """Decide once every event of this instant has been handled: frames that arrive
        together compete together (a best-effort frame must not grab the lane just because its
        tick was handled a moment before a critical one)."""
        if not self._dispatch_pending:
            self._dispatch_pending = True
            self.loop.call_at(self.loop.now(), self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_pending = False
        self.last_turn = self.loop.now()
        if self.ending:
            return
        now = self.loop.now()
        for job in self.scheduler.expire(now):
            self.metrics.dropped_late(job.pipeline)
        for job in self.scheduler.decide(now):
            payload: _Payload = job.payload
            for companion in job.companions:
                if self._feed_of(companion) is None:
                    self.scheduler.detach(job, companion, now)
            feed = self._feed_of(job)
            if feed is None:
                self.scheduler.complete(job, now)
                self._request_dispatch()
            else:
                feed = self._batch_feed(job, feed)
                if payload.runner.remote:
                    payload.runner.timeout_s = _time_left(job, now)
                if payload.runner.max_batch > 1:
                    self.metrics.batch(payload.runner.name, job.batch_size)
                self.lanes[job.lane].dispatch(payload.runner, feed,
                                              functools.partial(self._done, job))
            for member in (job, *job.companions):
                if member.pipeline in self._waiting_for_dispatch:
                    self._waiting_for_dispatch.discard(member.pipeline)
                    self.loop.call_later(0.0, self._tick, member.pipeline,
                                         self._generation[member.pipeline])
        wake = self.scheduler.wake_time(now)
        if wake is not None and wake != self._wake_at:
            self._wake_at = wake
            self.loop.call_at(wake, self._request_dispatch)

    def _batch_feed(self, job: Job, feed: Feed) -> Feed:
        """The feed of a dispatched job with its companions (rules 10 and 12)."""
        if job.payload.pipeline.tokens is not None:
            return self._token_batch(job, feed)
        if job.companions:
            return _batched([feed, *(c.payload.feed for c in job.companions)])
        return feed

    def _token_batch(self, job: Job, feed: Feed) -> Feed:
        """A text job's feed with its batch (rule 12): every member padded to the batch's
        longest (``pad_to_max``: to ``max_length``), counted for the padding figures."""
        payload: _Payload = job.payload
        tokens = payload.pipeline.tokens
        assert tokens is not None
        feeds = [feed, *(c.payload.feed for c in job.companions)]
        padded = tokens.config.max_length if tokens.config.batching == "pad_to_max" \
            else job.padded_length
        self.metrics.sequences(payload.pipeline.name,
                               [m.length for m in (job, *job.companions)], padded)
        return _padded(feeds, padded)

    def _feed_of(self, job: Job) -> Feed | None:
        """A dispatched job's feed, prepared now if it was not at submit (None: it failed)."""
        payload: _Payload = job.payload
        if payload.feed is None:
            payload.feed = self._prepare(payload.pipeline, payload.frame)
        return payload.feed

    def _done(self, job: Job, outputs: Outputs | None, error: BaseException | None) -> None:
        now = self.loop.now()
        members = (job, *job.companions)
        payload: _Payload = job.payload
        assert job.started is not None
        # what the engine itself measured (device time), not the time since dispatch, which
        # also holds how long this loop took to notice: a loop busy preparing frames would
        # otherwise teach every estimate its own delays
        measured = payload.runner.last_device_time_s
        run_s = measured if error is None and 0 < measured <= now - job.started + 1e-6 \
            else now - job.started
        self.scheduler.complete(job, now, run_s)
        payload.run_s = run_s
        self.metrics.lane_busy(job.lane, now - job.started)
        if error is None and job.started >= self._mode_since \
                and payload.runner.lane == job.lane:
            length = self._fed_length(job)
            key = CostKey(payload.runner.name, job.lane, self.power.mode.label, len(members),
                          length)
            self.costs.observe(key, run_s)
            if length:
                self._seen_lengths.setdefault(payload.pipeline.name, set()).add(
                    (len(members), length))
        if error is None and outputs is not None and len(members) > 1:
            try:
                split = _unbatched(outputs, len(members))
            except ValueError as exc:
                error = exc
        else:
            split = [outputs] if outputs is not None else []
        if error is not None or outputs is None:
            self._engine_failed(payload.runner, members, error or RuntimeError("no outputs"))
        else:
            for member, its_outputs in zip(members, split, strict=True):
                self.output.submit(self._finish, member, member.payload, its_outputs)
        if self.ending:
            if self._idle():
                self.loop.call_soon_threadsafe(self._drain_done)
        else:
            self._request_dispatch()

    def _engine_failed(self, runner: BaseRunner, members: tuple[Job, ...],
                       error: BaseException) -> None:
        """The engine failed the frames of ``members``. A remote engine that cannot be reached
        is not their fault: the plan moves them off it, and a frame whose pipeline now has
        another variant counts as a drop; with none left, it is a failure (fault policy)."""
        if isinstance(error, EngineUnavailableError):
            self._remote_down(runner, str(error))
        for member in members:
            pipeline: Pipeline = member.payload.pipeline
            if isinstance(error, EngineUnavailableError) and pipeline.variant not in pipeline.down:
                self.metrics.dropped(pipeline.name)
            else:
                self._failed(pipeline, Stage.ENGINE, error)

    def _finish(self, job: Job, payload: _Payload, outputs: Outputs) -> None:
        """Decode, record and publish one output (output thread, or inline)."""
        pipeline, frame = payload.pipeline, payload.frame
        try:
            result = pipeline.decode(outputs, frame)
        except Exception as exc:
            self._failed_elsewhere(pipeline, Stage.DECODE, exc)
            return
        done_at = self.loop.now()
        if job.started is not None and not job.companions:
            overhead = done_at - job.started - payload.run_s
            self.loop.call_soon_threadsafe(self.scheduler.learn_overhead, pipeline.name,
                                           overhead)
        missed = job.deadline is not None and done_at > job.deadline
        mode = self.metrics.current_mode()
        scored = result if pipeline.real_outputs and not isinstance(result, RawTensors) else None
        self.metrics.output(pipeline.name, done_at - frame.capture_time, missed, done_at,
                            scored, frame.truth)
        pipeline.faults.success()
        self.bus.publish(Output(pipeline.name, frame.index, frame.stamp, frame.frame_id,
                                frame.capture_time, done_at, missed, mode, result))

    # --- faults ------------------------------------------------------------------------------

    def _failed(self, pipeline: Pipeline, stage: Stage, exc: BaseException) -> None:
        """A frame failed in ``stage`` (loop thread)."""
        if pipeline.faults.failure(stage, exc, self.loop.now()):
            self._enter_failed(pipeline.name)

    def _failed_elsewhere(self, pipeline: Pipeline, stage: Stage, exc: BaseException) -> None:
        """A frame failed off the loop (output thread, a sink's subscriber thread)."""
        if pipeline.faults.failure(stage, exc, self.loop.now()):
            self.loop.call_soon_threadsafe(self._enter_failed, pipeline.name)

    def sink_failed(self, name: str, exc: BaseException) -> None:
        pipeline = self.pipelines.get(name)
        if pipeline is not None:
            self._failed_elsewhere(pipeline, Stage.SINK, exc)

    def _enter_failed(self, name: str) -> None:
        pipeline = self.pipelines.get(name)
        if pipeline is None:
            return
        self._stop_ticking(name)
        delay = pipeline.faults.restart_delay_s()
        if delay is not None:
            self.loop.call_later(delay, self._restart, name, self._generation[name])

    def _restart(self, name: str, generation: int) -> None:
        pipeline = self.pipelines.get(name)
        if self.ending or pipeline is None or generation != self._generation[name]:
            return
        pipeline.faults.restarted()
        if pipeline.taking_frames:
            self._start_ticking(name)

    def _check_finished(self) -> None:
        """Every source played out (files without ``loop``): the session ends itself."""
        if all(p.exhausted for p in self.pipelines.values()):
            self.finished.set()
            self.end()

    # --- remote engines ----------------------------------------------------------------------

    def _remote_down(self, runner: BaseRunner, reason: str) -> None:
        """A remote engine's server cannot be reached: every pipeline's variant on that lane
        is down until a probe finds it back; plan again without them (a pipeline moves to a
        local variant, or is degraded there, with the reason in its status)."""
        lane = runner.lane
        first = lane not in self._down_lanes
        self._down_lanes[lane] = reason
        for pipeline in self.pipelines.values():
            for name, variant in pipeline.variants.items():
                if variant.lane == lane:
                    pipeline.down[name] = reason
        if first:
            log.warning("%s; planning without it, probing every %.0f s", reason,
                        REMOTE_PROBE_S)
            self.loop.call_later(REMOTE_PROBE_S, self._probe, lane, runner)
        self.replan()

    def _probe(self, lane: str, runner: BaseRunner) -> None:
        """Ask a down server whether it is back: off the loop on the wall clock (a probe
        blocks up to its timeout), inline on the simulated one."""
        if self.ending or lane not in self._down_lanes:
            return
        if not self.threaded:
            self._probed(lane, runner, runner.probe())
            return

        def ask() -> None:
            try:
                reason = runner.probe()
            except Exception as exc:  # a probe must never kill its thread silently
                reason = f"probe failed: {exc}"
            self.loop.call_soon_threadsafe(self._probed, lane, runner, reason)

        threading.Thread(target=ask, name=f"probe-{lane}", daemon=True).start()

    def _probed(self, lane: str, runner: BaseRunner, reason: str | None) -> None:
        if self.ending or lane not in self._down_lanes:
            return
        if reason is not None:
            self._down_lanes[lane] = reason
            self.loop.call_later(REMOTE_PROBE_S, self._probe, lane, runner)
            return
        del self._down_lanes[lane]
        log.warning("%s is reachable again; planning with it", lane)
        for pipeline in self.pipelines.values():
            for name, variant in pipeline.variants.items():
                if variant.lane == lane:
                    pipeline.down.pop(name, None)
                    variant.reconnect()
        self.replan()

    # --- control (loop thread; the runtime posts these) --------------------------------------

    def switch_power(self, mode: PowerMode) -> None:
        """Plan for ``mode`` first, then switch and apply the plan in the same loop step (so
        the re-plan takes effect before the next frame). A mode critical pipelines cannot fit
        is refused: logged with the planner's numbers, and the module stays where it is."""
        if self.ending:
            return
        try:
            plan = self.planner(mode, self.pipelines, self.shed)
        except InfeasibleError as exc:
            log.error("power switch to %s refused: %s", mode.label, exc.message)
            self.refused_switches.append(f"{mode.label}: {exc.message}")
            return
        self.power.switch(mode.id)
        self.apply_plan(plan)

    def _mode_changed(self, old: PowerMode, new: PowerMode) -> None:
        """New clocks: a new metrics bucket, and run-time estimates for the new clocks from the
        cost model (the learned ones are stale the moment the clocks change)."""
        self._mode_since = now = self.loop.now()
        self.metrics.mode_changed(new.label, now)
        expected = {name: self._expected(pipeline, new)
                    for name, pipeline in self.pipelines.items()
                    if name in self.scheduler.pipelines}
        self.scheduler.reset_estimates({name: mean for name, (mean, _) in expected.items()},
                                       {name: tail for name, (_, tail) in expected.items()
                                        if tail is not None})
        self._refresh_batch_costs()

    def _fed_length(self, job: Job) -> int:
        """The padded length a text job's batch was fed at (0 for frames)."""
        tokens = job.payload.pipeline.tokens
        if tokens is None:
            return 0
        return tokens.config.max_length if tokens.config.batching == "pad_to_max" \
            else job.padded_length

    def _refresh_sequence_costs(self, pipeline: Pipeline) -> None:
        """Tell the scheduler what a text pipeline's engine takes per (batch, padded length)
        now (rule 12): the profiled points and every shape it has run at, from the cost
        model (measured once a shape has run often enough, else the profile's prior)."""
        runner, mode = pipeline.runner, self.power.mode
        points = {(b, n) for b in range(1, runner.max_batch + 1) for n in PROFILE_LENGTHS
                  if n <= pipeline.max_length}
        points |= {(b, pipeline.max_length) for b in range(1, runner.max_batch + 1)}
        points |= self._seen_lengths.get(pipeline.name, set())
        table = {}
        for size, length in points:
            cost = self.costs.cost(CostKey(runner.name, runner.lane, mode.label, size, length))
            if cost is not None:
                table[(size, length)] = cost.mean_s
        self.scheduler.set_sequence_costs(pipeline.name, table)

    def _refresh_batch_costs(self) -> None:
        """Tell the scheduler what each batchable engine takes per batch size now (rules 10
        and 12)."""
        mode = self.power.mode
        for pipeline in self.pipelines.values():
            runner = pipeline.runner
            if runner.max_batch < 2:
                continue
            if pipeline.tokens is not None:
                self._refresh_sequence_costs(pipeline)
                continue
            sizes = {}
            for size in range(1, runner.max_batch + 1):
                cost = self.costs.cost(CostKey(runner.name, runner.lane, mode.label, size))
                if cost is not None:
                    sizes[size] = cost.mean_s
            self.scheduler.set_batch_costs(batch_group(runner), sizes)

    def _expected(self, pipeline: Pipeline, mode: PowerMode | None = None
                  ) -> tuple[float | None, float | None]:
        """The mean run time of a pipeline's current engine in ``mode`` (default: now), and
        its measured tail (p95) when completions in that mode have measured one."""
        cost = self.costs.cost(cost_key(pipeline, mode or self.power.mode))
        if cost is None:
            return None, None
        return cost.mean_s, cost.p95_s if cost.source == "measured" else None

    # --- plans -------------------------------------------------------------------------------

    def replan(self) -> None:
        """Plan again in the current mode (a pipeline was enabled, disabled, re-rated or
        reloaded). If critical pipelines would no longer fit, the plan in force stays and the
        error is logged (the change itself has been made)."""
        try:
            plan = self.planner(self.power.mode, self.pipelines, self.shed)
        except InfeasibleError as exc:
            log.error("re-plan failed, keeping the current plan: %s", exc.message)
            return
        self.apply_plan(plan)

    def apply_plan(self, plan: Plan) -> None:
        """Give each pipeline its grant: engine variant (and so lane), rate, paused or not.
        Pipelines whose grant did not change never notice."""
        self.plan = plan
        self.plans[plan.mode] = plan
        for name, grant in plan.grants.items():
            pipeline = self.pipelines.get(name)
            if pipeline is not None:
                self._apply_grant(pipeline, grant.variant, grant.rate_hz, grant.paused,
                                  grant.reason)
        self._refresh_batch_costs()
        self._plan_costs = self._costs_in_use()
        for line in plan.decisions:
            log.info("plan at %s: %s", plan.mode, line)

    def _costs_in_use(self) -> dict[CostKey, Cost]:
        """What the cost model says now of every engine the pipelines use, in this mode, at
        every batch size they may run."""
        mode = self.power.mode
        figures = {}
        for pipeline in self.pipelines.values():
            for batch in range(1, max(1, pipeline.runner.max_batch) + 1):
                key = cost_key(pipeline, mode, batch)
                cost = self.costs.cost(key)
                if cost is not None:
                    figures[key] = cost
        return figures

    def _review_costs(self) -> None:
        """Plan again when run times parted from the ones the plan in force was made with
        (warm-up priors that contention proved optimistic, a module that heats up), so
        admission holds on what engines take now. A set that no longer fits keeps its plan
        and says so once per drift (the next review compares with the new figures)."""
        if self.ending:
            return
        why = drift(self._plan_costs, self._costs_in_use())
        if why:
            self.cost_replans.append(f"{self.power.mode.label}: {why[0]}")
            log.info("run times drifted at %s (%s): planning again", self.power.mode.label,
                     "; ".join(why))
            try:
                plan = self.planner(self.power.mode, self.pipelines, self.shed)
            except InfeasibleError as exc:
                log.error("after a drift, critical pipelines no longer fit; keeping the plan "
                          "in force: %s", exc.message)
                self._plan_costs = self._costs_in_use()
            else:
                self.apply_plan(plan)
        self.loop.call_later(COST_REVIEW_S, self._review_costs)

    # --- power: telemetry and the governor ----------------------------------------------------

    def _sample_power(self) -> None:
        """Sample the module (its power over the last period, as lane utilisation, heats the
        simulated one), then let the governor decide on the reading."""
        if self.ending:
            return
        assert self.control.sampler is not None
        now = self.loop.now()
        seconds, busy = now - self._sampled_at, self.metrics.busy_s()
        utilisation = {lane: min(max((spent - self._busy_before.get(lane, 0.0)) / seconds,
                                     0.0), 1.0) if seconds > 0 else 0.0
                       for lane, spent in busy.items()}
        self._sampled_at, self._busy_before = now, busy
        self.telemetry = self.control.sampler(seconds, utilisation)
        if self.control.governor is not None:
            self._govern(now, self.telemetry)
        self.loop.call_later(self.control.sample_s, self._sample_power)

    def _govern(self, now: float, telemetry: Telemetry) -> None:
        assert self.control.governor is not None
        reading = Reading(now - self.started_at, telemetry.module_w, telemetry.hottest_c)
        decision = self.control.governor.tick(reading, self.power.mode.label)
        if decision.step is not Step.HOLD:
            applied = self._apply_decision(decision)
            if not applied:
                self.control.governor.refused(decision)
            self.record_decision(decision, applied, reading.at_s)

    def _apply_decision(self, decision: Decision) -> bool:
        """Carry out a governor decision; False when it could not be (logged)."""
        if decision.step in (Step.SHED, Step.RESTORE):
            self.shed = decision.reason if decision.step is Step.SHED else None
            try:
                plan = self.planner(self.power.mode, self.pipelines, self.shed)
            except InfeasibleError as exc:
                log.error("governor: %s: %s", decision.reason, exc.message)
                return False
            self.apply_plan(plan)
            return True
        assert decision.mode is not None
        before = self.power.mode.id
        self.switch_power(self.power.profile.resolve(decision.mode))
        return self.power.mode.id != before

    def record_decision(self, decision: Decision, applied: bool, at_s: float) -> None:
        """Keep (and log) one governor decision for status() and the summary."""
        log.info("governor at %.1f s: %s%s", at_s, decision.reason,
                 "" if applied else " (could not be applied)")
        self.decisions.append({"at_s": round(at_s, 3), "step": decision.step.value,
                               "mode": decision.mode, "reason": decision.reason,
                               "applied": applied})
        del self.decisions[:-DECISIONS_KEPT]

    def _apply_grant(self, pipeline: Pipeline, variant: str, rate_hz: float | None,
                     paused: bool, reason: str | None) -> None:
        name = pipeline.name
        moved = pipeline.use_variant(variant)
        if moved:
            self._ensure_lane(pipeline.runner.lane)
        rerated = rate_hz != pipeline.granted_rate_hz
        was_paused = pipeline.paused
        down = sorted(set(pipeline.down.values()))
        if down:
            reason = "; ".join([*down, *([reason] if reason else []),
                                f"on {variant}" if variant not in pipeline.down else
                                "no other variant: its frames fail until it is back"])
        pipeline.granted_rate_hz, pipeline.paused, pipeline.reason = rate_hz, paused, reason
        if moved or rerated:
            self.metrics.dropped(name, len(self.scheduler.update_pipeline(
                pipeline_spec(pipeline, *self._expected(pipeline)))))
        if paused and not was_paused:
            self._stop_ticking(name)
        elif not paused and (was_paused or rerated) and pipeline.taking_frames:
            self._start_ticking(name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        pipeline = self.pipelines[name]
        if pipeline.enabled == enabled:
            return
        pipeline.enabled = enabled
        if enabled and pipeline.taking_frames:
            self._start_ticking(name)
        elif not enabled:
            self._stop_ticking(name)
        self.replan()

    def set_rate(self, name: str, rate_hz: float | None) -> None:
        pipeline = self.pipelines[name]
        pipeline.rate_override = rate_hz
        pipeline.granted_rate_hz = None
        self.metrics.dropped(name, len(self.scheduler.update_pipeline(
            pipeline_spec(pipeline, self.scheduler.expected_run_s(name)))))
        if pipeline.taking_frames:
            self._start_ticking(name)
        self.replan()

    def swap(self, changed: dict[str, Pipeline], removed: list[str]) -> None:
        """A reload: pipelines in ``changed`` replace (or join) those of the same name, those
        in ``removed`` leave. A frame already running finishes with its old engine; frames
        waiting for the old one are dropped. Untouched pipelines never notice."""
        for name in removed:
            self._stop_ticking(name)
            self.pipelines.pop(name, None)
        for name, pipeline in changed.items():
            for runner in pipeline.variants.values():
                self._ensure_lane(runner.lane)
            spec = pipeline_spec(pipeline, *self._expected(pipeline))
            if name in self.scheduler.pipelines:
                self._stop_ticking(name)
                self.scheduler.update_pipeline(spec)
            else:
                self.scheduler.add_pipeline(spec)
                self.metrics.add_pipeline(name)
                self._generation[name] = 0
                self._next_tick[name] = 0
            self.pipelines[name] = pipeline
            self._last_index[name] = -1  # a new source: its frames count from its own start
            if pipeline.taking_frames:
                self._start_ticking(name)
        self.replan()

    def _ensure_lane(self, lane: str) -> None:
        self.scheduler.add_lane(lane, host_cpu=lane in HOST_CPU_LANES)
        self.metrics.add_lane(lane)
        if lane not in self.lanes:
            self._open_lane(lane)

    def _open_lane(self, name: str) -> None:
        loop = self.loop
        self.lanes[name] = ThreadedLane(name, loop) if isinstance(loop, RealtimeLoop) \
            else SimulatedLane(name, loop)

    def lanes_busy_s(self, now: float) -> dict[str, float]:
        """How long the job on each busy lane has been running (any thread: reads only)."""
        busy = {}
        for lane in self.scheduler.lanes:
            job = self.scheduler.running(lane)
            started = job.started if job is not None else None
            if started is not None:
                busy[lane] = round(max(now - started, 0.0), 6)
        return busy

    def waiting(self, name: str) -> int:
        return self.scheduler.waiting(name) if name in self.scheduler.pipelines else 0


def _time_left(job: Job, now: float) -> float | None:
    """A remote request's timeout: the time left to the earliest deadline in its batch (at
    least :data:`MIN_REMOTE_TIMEOUT_S`, so a frame dispatched at its deadline still gets an
    answer to count as a miss rather than a lost request)."""
    deadlines = [m.deadline for m in (job, *job.companions) if m.deadline is not None]
    return max(min(deadlines) - now, MIN_REMOTE_TIMEOUT_S) if deadlines else None


def _batched(feeds: list[Feed]) -> Feed:
    """One feed of a batch: each input's arrays stacked along the batch (first) axis."""
    return {name: np.concatenate([feed[name] for feed in feeds]) for name in feeds[0]}


def _padded(feeds: list[Feed], length: int) -> Feed:
    """Token feeds (``[1, n]`` each) as one ``[batch, length]`` feed, zero-padded (pad id 0,
    mask 0: padding the model is trained to ignore)."""
    batch: dict[str, npt.NDArray[np.generic]] = {}
    for name in feeds[0]:
        first = feeds[0][name]
        out = np.zeros((len(feeds), length), dtype=first.dtype)
        for row, feed in enumerate(feeds):
            values = feed[name].reshape(-1)[:length]
            out[row, :values.size] = values
        batch[name] = out
    return batch


def _unbatched(outputs: Outputs, size: int) -> list[Outputs]:
    """A batch's outputs split back per frame (raises ValueError when an output's first axis
    does not divide by the batch size: that engine's outputs are not batch-first)."""
    parts: list[dict[str, npt.NDArray[np.generic]]] = [{} for _ in range(size)]
    for name, array in outputs.items():
        if array.shape[0] % size:
            raise ValueError(f"output '{name}' of shape {list(array.shape)} does not split into "
                             f"a batch of {size}")
        for part, piece in zip(parts, np.split(array, size), strict=True):
            part[name] = piece
    result: list[Outputs] = list(parts)
    return result
