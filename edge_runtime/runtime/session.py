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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from edge_runtime.config.power import PowerMode
from edge_runtime.engines.base import BaseRunner
from edge_runtime.graph.tensors import Feed, Outputs
from edge_runtime.pipelines.output import Output, RawTensors
from edge_runtime.pipelines.sources import BadFrameError, Empty, Frame, FrameIn
from edge_runtime.power.manager import PowerManager
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
from edge_runtime.scheduler.loop import EventLoop, RealtimeLoop

log = logging.getLogger("edge_runtime.runtime")

#: How long in-flight inferences may take to finish once a session is asked to end.
DRAIN_S = 10.0
#: How often the loop wakes with nothing else to do (a stop request needs no more).
IDLE_WAKE_S = 0.25
#: How soon the loop looks again for a camera frame that was due but not in yet.
REPOLL_S = 0.001

_In = TypeVar("_In")
_Out = TypeVar("_Out")

#: (pipeline, its learned run time, old mode, new mode) -> its run time under the new clocks.
Estimate = Callable[[Pipeline, float | None, PowerMode, PowerMode], float | None]


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


def pipeline_spec(pipeline: Pipeline, expected_run_s: float | None) -> PipelineSpec:
    """What the scheduler knows of a pipeline."""
    cfg = pipeline.config
    rate = pipeline.rate_hz
    return PipelineSpec(pipeline.name, pipeline.runner.lane, cfg.priority.rank,
                        cfg.deadline_ms / 1e3 if cfg.deadline_ms else None, cfg.queue_depth,
                        1.0 / rate if rate else None, expected_run_s)


class Session:
    """The loop, scheduler, lanes and metrics of one activation (see the module docstring)."""

    def __init__(self, loop: EventLoop, pipelines: dict[str, Pipeline], power: PowerManager,
                 bus: OutputBus, estimates: dict[str, float | None], estimate: Estimate,
                 power_schedule: list[tuple[float, PowerMode]]) -> None:
        self.loop = loop
        self.pipelines = dict(pipelines)
        self.power = power
        self.bus = bus
        self.estimate = estimate
        self.threaded = isinstance(loop, RealtimeLoop)
        lane_names = sorted({p.runner.lane for p in pipelines.values()})
        self.lanes: dict[str, LaneWorker] = {}
        self.scheduler = Scheduler(lane_names)
        for name in lane_names:
            self._open_lane(name)
        for name, pipeline in self.pipelines.items():
            self.scheduler.add_pipeline(pipeline_spec(pipeline, estimates.get(name)))
        self.metrics = RunMetrics(list(self.pipelines), lane_names)
        self.output: ThreadedOutput | InlineOutput = \
            ThreadedOutput() if self.threaded else InlineOutput()
        self.power_schedule = power_schedule
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
        self._dispatch_pending = False
        self._wake_at: float | None = None
        self._drained = False
        #: When (loop clock) the loop last ran one of this session's events: a heartbeat.
        self.last_turn = 0.0
        power.subscribe(self._mode_changed)

    # --- start and end -----------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the first events (on the loop, before it runs). On the wall clock the loop
        may start a little after its origin (sources took a moment to open): everything counts
        from the start, not from the origin."""
        self.started_at = start = self.loop.now()
        self.metrics.mode_changed(self.power.mode.label, start)
        for name, pipeline in self.pipelines.items():
            if pipeline.taking_frames:
                self._start_ticking(name)
        for at_s, mode in self.power_schedule:
            self.loop.call_at(start + at_s, self.switch_power, mode)
        self.loop.call_at(start, self._wake)

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
        if self.scheduler.likely_to_run(pipeline.name, now):
            feed = self._prepare(pipeline, frame)
            if feed is None:
                return
        submitted = self.scheduler.submit(pipeline.name, frame.index, frame.capture_time, now,
                                          _Payload(pipeline, frame, feed))
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
            pipeline = payload.pipeline
            if payload.feed is None:
                payload.feed = self._prepare(pipeline, payload.frame)
            if payload.feed is None:
                self.scheduler.complete(job, now)
                self._request_dispatch()
            else:
                self.lanes[job.lane].dispatch(pipeline.runner, payload.feed,
                                              functools.partial(self._done, job))
            if job.pipeline in self._waiting_for_dispatch:
                self._waiting_for_dispatch.discard(job.pipeline)
                self.loop.call_later(0.0, self._tick, job.pipeline,
                                     self._generation[job.pipeline])
        wake = self.scheduler.wake_time(now)
        if wake is not None and wake != self._wake_at:
            self._wake_at = wake
            self.loop.call_at(wake, self._request_dispatch)

    def _done(self, job: Job, outputs: Outputs | None, error: BaseException | None) -> None:
        now = self.loop.now()
        self.scheduler.complete(job, now)
        payload: _Payload = job.payload
        assert job.started is not None
        self.metrics.lane_busy(job.lane, now - job.started)
        if error is not None or outputs is None:
            self._failed(payload.pipeline, Stage.ENGINE, error or RuntimeError("no outputs"))
        else:
            self.output.submit(self._finish, job, payload, outputs)
        if self.ending:
            if self._idle():
                self.loop.call_soon_threadsafe(self._drain_done)
        else:
            self._request_dispatch()

    def _finish(self, job: Job, payload: _Payload, outputs: Outputs) -> None:
        """Decode, record and publish one output (output thread, or inline)."""
        pipeline, frame = payload.pipeline, payload.frame
        try:
            result = pipeline.decode(outputs, frame)
        except Exception as exc:
            self._failed_elsewhere(pipeline, Stage.DECODE, exc)
            return
        done_at = self.loop.now()
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

    # --- control (loop thread; the runtime posts these) --------------------------------------

    def switch_power(self, mode: PowerMode) -> None:
        if not self.ending:
            self.power.switch(mode.id)

    def _mode_changed(self, old: PowerMode, new: PowerMode) -> None:
        """New clocks: a new metrics bucket, and run-time estimates for the new clocks (the
        learned ones are stale the moment the clocks change)."""
        self.metrics.mode_changed(new.label, self.loop.now())
        self.scheduler.reset_estimates({
            name: self.estimate(pipeline, self.scheduler.expected_run_s(name), old, new)
            for name, pipeline in self.pipelines.items() if name in self.scheduler.pipelines})

    def set_enabled(self, name: str, enabled: bool) -> None:
        pipeline = self.pipelines[name]
        if pipeline.enabled == enabled:
            return
        pipeline.enabled = enabled
        if enabled and pipeline.taking_frames:
            self._start_ticking(name)
        elif not enabled:
            self._stop_ticking(name)

    def set_rate(self, name: str, rate_hz: float | None) -> None:
        pipeline = self.pipelines[name]
        pipeline.rate_override = rate_hz
        self.metrics.dropped(name, len(self.scheduler.update_pipeline(
            pipeline_spec(pipeline, self.scheduler.expected_run_s(name)))))
        if pipeline.taking_frames:
            self._start_ticking(name)

    def swap(self, changed: dict[str, Pipeline], removed: list[str],
             estimates: dict[str, float | None]) -> None:
        """A reload: pipelines in ``changed`` replace (or join) those of the same name, those
        in ``removed`` leave. A frame already running finishes with its old engine; frames
        waiting for the old one are dropped. Untouched pipelines never notice."""
        for name in removed:
            self._stop_ticking(name)
            self.pipelines.pop(name, None)
        for name, pipeline in changed.items():
            self.scheduler.add_lane(pipeline.runner.lane)
            self.metrics.add_lane(pipeline.runner.lane)
            if pipeline.runner.lane not in self.lanes:
                self._open_lane(pipeline.runner.lane)
            spec = pipeline_spec(pipeline, estimates.get(name))
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
