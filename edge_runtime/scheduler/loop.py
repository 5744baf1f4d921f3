"""Event loops: the only place that knows what time it is.

Everything time-driven (source ticks, power switches, completions) is a callback scheduled on a
loop. :class:`SimulatedLoop` jumps from event to event (discrete-event simulation: tests, the
planner, runs faster than real time); :class:`RealtimeLoop` is the same loop that waits for the
wall clock to reach each event and also runs callbacks posted from other threads (lane workers).
As in SimPy, the realtime loop only overrides :meth:`EventLoop.step`. A realtime loop that falls
behind records its lateness and carries on; it never raises for it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Callback = Callable[..., Any]


@dataclass(order=True)
class Timer:
    """A scheduled callback; ``cancel()`` keeps it from running."""

    when: float
    seq: int
    callback: Callback = field(compare=False)
    args: tuple[Any, ...] = field(compare=False, default=())
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Lateness:
    """How late timed callbacks ran (always zero on a simulated loop)."""

    count: int = 0
    total_s: float = 0.0
    worst_s: float = 0.0

    def record(self, late_s: float) -> None:
        self.count += 1
        self.total_s += late_s
        self.worst_s = max(self.worst_s, late_s)

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else 0.0


class EventLoop:
    """A heap of timers ordered by (time, sequence): equal times run in scheduling order."""

    def __init__(self) -> None:
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._stopped = False
        self.lateness = Lateness()

    def now(self) -> float:
        raise NotImplementedError

    def call_at(self, when: float, callback: Callback, *args: Any) -> Timer:
        timer = Timer(when, next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callback, *args: Any) -> Timer:
        return self.call_at(self.now() + max(delay, 0.0), callback, *args)

    def call_soon_threadsafe(self, callback: Callback, *args: Any) -> None:
        """Run ``callback`` on the loop at its next step (safe from any thread)."""
        raise NotImplementedError

    def stop(self) -> None:
        self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped

    def run(self) -> None:
        """Run until :meth:`stop` is called or nothing is left to do."""
        while not self._stopped and self.step():
            pass

    def step(self) -> bool:
        """Run the next callback; False when there is nothing left."""
        raise NotImplementedError

    def _pop_due(self) -> Timer | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0] if self._timers else None


class SimulatedLoop(EventLoop):
    """Discrete-event time: ``now`` is the time of the event being run.

    ``pace`` > 0 paces events to the wall clock (1.0 = real time) so a person can watch; the
    host's computing time is still not charged to simulated time. Callbacks posted with
    :meth:`call_soon_threadsafe` (a host pushing a frame, switching a power mode) run at the
    current simulated time, before the next timed event.
    """

    def __init__(self, pace: float | None = None) -> None:
        super().__init__()
        self._now = 0.0
        self.pace = pace
        self._wall_start: float | None = None
        self._inbox: deque[tuple[Callback, tuple[Any, ...]]] = deque()
        self._inbox_lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def call_soon_threadsafe(self, callback: Callback, *args: Any) -> None:
        with self._inbox_lock:
            self._inbox.append((callback, args))

    def step(self) -> bool:
        return self._step_before(math.inf)

    def run_until(self, until: float) -> None:
        """Run every event due before ``until``, then stand at ``until`` (events due exactly
        then run in the next call, so running in pieces gives the same timeline as one run)."""
        while not self._stopped and self._step_before(until):
            pass
        if not self._stopped:
            self._pace_to(until)
            self._now = max(self._now, until)

    def _step_before(self, until: float) -> bool:
        with self._inbox_lock:
            posted = self._inbox.popleft() if self._inbox else None
        if posted is not None:
            posted[0](*posted[1])
            return True
        timer = self._pop_due()
        if timer is None or timer.when >= until:
            return False
        heapq.heappop(self._timers)
        self._pace_to(timer.when)
        self._now = max(self._now, timer.when)
        timer.callback(*timer.args)
        return True

    def _pace_to(self, when: float) -> None:
        if not self.pace or math.isinf(when):
            return
        if self._wall_start is None:
            self._wall_start = time.monotonic() - self._now / self.pace
        delay = self._wall_start + when / self.pace - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class RealtimeLoop(EventLoop):
    """Wall-clock time since ``origin`` (default: when the loop was made); other threads post
    with ``call_soon_threadsafe``."""

    def __init__(self, origin: float | None = None) -> None:
        super().__init__()
        self._origin = time.monotonic() if origin is None else origin
        self._inbox: deque[tuple[Callback, tuple[Any, ...]]] = deque()
        self._wake = threading.Condition()
        self.pending_external = 0

    @property
    def origin(self) -> float:
        """The ``time.monotonic()`` that ``now() == 0`` is (system-wide: other processes, such
        as a camera's, can share this clock)."""
        return self._origin

    def now(self) -> float:
        return time.monotonic() - self._origin

    def call_soon_threadsafe(self, callback: Callback, *args: Any) -> None:
        with self._wake:
            self._inbox.append((callback, args))
            self._wake.notify()

    def expect_external(self, count: int = 1) -> None:
        """Tell the loop a thread will post back, so it keeps waiting with no timers left."""
        with self._wake:
            self.pending_external += count

    def stop(self) -> None:
        with self._wake:
            super().stop()
            self._wake.notify()

    def step(self) -> bool:
        with self._wake:
            while True:
                if self._inbox:
                    callback, args = self._inbox.popleft()
                    self.pending_external = max(self.pending_external - 1, 0)
                    break
                timer = self._pop_due()
                if self._stopped or (timer is None and self.pending_external == 0):
                    return False
                wait = None if timer is None else timer.when - self.now()
                if wait is not None and wait <= 0:
                    heapq.heappop(self._timers)
                    self.lateness.record(-wait)
                    callback, args = timer.callback, timer.args  # type: ignore[union-attr]
                    break
                self._wake.wait(timeout=wait)
        callback(*args)
        return True
