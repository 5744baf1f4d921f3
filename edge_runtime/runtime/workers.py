"""Mechanism: how work leaves the loop and comes back, on each clock.

On the wall clock each lane is a worker thread (an engine's ``infer`` releases the GIL while
the accelerator runs), and outputs are decoded by an output thread, so neither blocks the loop.
A lane running a simulated engine also waits out the rest of the modelled device time, as a
real engine's synchronise would: the engine itself has no clock. On the simulated clock the
same work runs inline and its completion is scheduled at ``now + device time``. The scheduler
never sees the difference. The lane thread does nothing but ``infer`` (and that wait): feeds are
prepared and checked before, outputs decoded after, elsewhere.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from edge_runtime.engines.base import BaseRunner
from edge_runtime.graph.tensors import Feed, Outputs
from edge_runtime.scheduler.loop import EventLoop, RealtimeLoop

Done = Callable[[Outputs | None, BaseException | None], None]


class SerialWorker:
    """A thread running submitted callables one at a time, in order."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.put((fn, args))

    def close(self, timeout: float | None = None) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args = item
            fn(*args)


class ThreadedLane:
    """A lane as a worker thread; completion is posted back to the realtime loop."""

    def __init__(self, name: str, loop: RealtimeLoop) -> None:
        self.loop = loop
        self.worker = SerialWorker(f"lane-{name}")

    def dispatch(self, runner: BaseRunner, feed: Feed, done: Done) -> None:
        self.loop.expect_external()
        self.worker.submit(self._execute, runner, feed, done)

    def _execute(self, runner: BaseRunner, feed: Feed, done: Done) -> None:
        started = time.perf_counter()
        result: Outputs | None = None
        error: BaseException | None = None
        try:
            result = runner.infer(feed, checked=True)
        except Exception as exc:  # the frame fails; the loop counts it
            error = exc
        if error is None and runner.simulated_timing:
            sleep_until(started + runner.last_device_time_s)
        self.loop.call_soon_threadsafe(done, result, error)

    def close(self) -> None:
        self.worker.close(timeout=10.0)


class SimulatedLane:
    """A lane on the simulated clock: work runs now, completes after its device time."""

    def __init__(self, name: str, loop: EventLoop) -> None:
        self.name = name
        self.loop = loop

    def dispatch(self, runner: BaseRunner, feed: Feed, done: Done) -> None:
        result: Outputs | None = None
        error: BaseException | None = None
        try:
            result = runner.infer(feed, checked=True)
        except Exception as exc:
            error = exc
        self.loop.call_later(runner.last_device_time_s if error is None else 0.0, done, result,
                             error)

    def close(self) -> None:
        pass


class ThreadedOutput:
    """Decoding on its own thread, off the loop and the lanes."""

    def __init__(self) -> None:
        self.worker = SerialWorker("outputs")

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self.worker.submit(fn, *args)

    def close(self) -> None:
        self.worker.close(timeout=30.0)


class InlineOutput:
    """Decoding inline, on the simulated clock."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        fn(*args)

    def close(self) -> None:
        pass


def sleep_until(deadline: float) -> None:
    """Wait until ``perf_counter() >= deadline``, releasing the GIL. Plain sleep overshoots by
    tens of microseconds; spinning would be tighter but fights other threads for the GIL."""
    remaining = deadline - time.perf_counter()
    if remaining > 0:
        time.sleep(remaining)
