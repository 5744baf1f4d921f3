"""Mechanism: how work leaves the loop and comes back, on each clock.

On the wall clock each lane is a worker thread (an engine's ``infer`` releases the GIL while
the accelerator, or the simulated one's sleep, runs), and outputs are decoded and written by an
output thread, so neither blocks the loop. On the simulated clock the same work runs inline and
its completion is scheduled at ``now + device time``. The scheduler never sees the difference.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from edge_runtime.scheduler.loop import EventLoop, RealtimeLoop

Work = Callable[[], Any]
Done = Callable[[Any, BaseException | None], None]


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

    def dispatch(self, work: Work, done: Done, device_time: Callable[[], float]) -> None:
        del device_time  # the wall clock measures it
        self.loop.expect_external()
        self.worker.submit(self._execute, work, done)

    def _execute(self, work: Work, done: Done) -> None:
        try:
            result, error = work(), None
        except BaseException as exc:  # reported on the loop thread, where the run stops
            result, error = None, exc
        self.loop.call_soon_threadsafe(done, result, error)

    def close(self) -> None:
        self.worker.close(timeout=10.0)


class SimulatedLane:
    """A lane on the simulated clock: work runs now, completes after its device time."""

    def __init__(self, name: str, loop: EventLoop) -> None:
        self.name = name
        self.loop = loop

    def dispatch(self, work: Work, done: Done, device_time: Callable[[], float]) -> None:
        try:
            result, error = work(), None
        except Exception as exc:
            result, error = None, exc
        self.loop.call_later(device_time() if error is None else 0.0, done, result, error)

    def close(self) -> None:
        pass


class ThreadedOutput:
    """Decoding and sinks on their own thread, off the loop."""

    def __init__(self) -> None:
        self.worker = SerialWorker("outputs")

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self.worker.submit(fn, *args)

    def close(self) -> None:
        self.worker.close(timeout=30.0)


class InlineOutput:
    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        fn(*args)

    def close(self) -> None:
        pass
