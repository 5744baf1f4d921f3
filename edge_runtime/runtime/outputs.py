"""Finished frames as typed values, and the subscribers that receive them.

Every frame a pipeline finishes becomes an :class:`Output`: which frame (with the host's stamp
and frame id carried unchanged), how late, and the decoded result as a typed object. Outputs go
to subscribers through an :class:`OutputBus`. On the wall clock each subscriber has a bounded
queue and a thread of its own, so a slow one (a ROS publisher, a disk) never blocks a lane or
another subscriber: when its queue is full the *oldest* output is dropped and counted, as
cameras drop frames. On the simulated clock callbacks run inline, so a run repeats exactly.
The JSON-lines and log sinks of a pipeline set are subscribers like any other.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable

from edge_runtime.pipelines.output import Output
from edge_runtime.pipelines.sinks import Sink

log = logging.getLogger("edge_runtime.outputs")

#: Outputs a subscriber may have waiting before the oldest is dropped (default).
QUEUE_SIZE = 64


OutputCallback = Callable[[Output], None]
#: Told of a callback's exception instead of logging it (a pipeline's sinks: the pipeline's
#: fault tracker counts them).
ErrorHook = Callable[[Output, Exception], None]


class Subscription:
    """One subscriber's callback, the pipelines it wants, and what happened to its outputs."""

    def __init__(self, callback: OutputCallback, pipelines: Iterable[str] | None,
                 queue_size: int, threaded: bool, name: str,
                 on_error: ErrorHook | None = None) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.callback = callback
        self.pipelines = frozenset(pipelines) if pipelines is not None else None
        self.queue_size = queue_size
        self.name = name
        self.on_error = on_error
        self.delivered = 0
        self.dropped = 0
        self.errors = 0
        self._logged: set[str] = set()
        self._queue: deque[Output] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._drain, name=f"subscriber-{name}",
                                            daemon=True)
            self._thread.start()

    def wants(self, pipeline: str) -> bool:
        return self.pipelines is None or pipeline in self.pipelines

    def offer(self, output: Output) -> None:
        """Queue (or, inline, deliver) one output; never blocks on the callback."""
        if self._thread is None:
            self._deliver(output)
            return
        with self._cond:
            if self._closed:
                return
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(output)
            self._cond.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued output was delivered; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the thread."""
        if self._thread is None:
            self._closed = True
            return
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _drain(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return
                output = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(output)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, output: Output) -> None:
        try:
            self.callback(output)
            self.delivered += 1
        except Exception as exc:  # a subscriber's bug must not stop the runtime
            self.errors += 1
            if self.on_error is not None:
                self.on_error(output, exc)
                return
            kind = type(exc).__name__
            if kind not in self._logged:
                self._logged.add(kind)
                log.warning("subscriber %s raised %s: %s (counted; logged once per kind)",
                            self.name, kind, exc)


class OutputBus:
    """Fans outputs out to subscriptions (see the module docstring)."""

    def __init__(self, threaded: bool) -> None:
        self.threaded = threaded
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: OutputCallback, pipelines: Iterable[str] | None = None,
                  queue_size: int = QUEUE_SIZE, name: str | None = None,
                  on_error: ErrorHook | None = None) -> Subscription:
        with self._lock:
            subscription = Subscription(callback, pipelines, queue_size, self.threaded,
                                        name or f"{len(self._subscriptions)}", on_error)
            self._subscriptions = [*self._subscriptions, subscription]
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]
        subscription.close()

    @property
    def subscriptions(self) -> list[Subscription]:
        return self._subscriptions

    def publish(self, output: Output) -> None:
        for subscription in self._subscriptions:  # a copy-on-write list: no lock needed
            if subscription.wants(output.pipeline):
                subscription.offer(output)

    def flush(self, timeout: float = 5.0) -> None:
        for subscription in self._subscriptions:
            subscription.flush(timeout)

    def close(self) -> None:
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription.close()


class SinkSubscriber:
    """A pipeline set's sink (JSON lines, log) as an output subscriber."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def __call__(self, output: Output) -> None:
        self.sink.write(output)
