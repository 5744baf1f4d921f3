"""TensorRT's log, routed into Python logging and to the build or runner that caused it.

TensorRT reports everything (parser errors, why a layer cannot run on a DLA, why a build or a
deserialisation failed) through an ``ILogger`` it calls, from the calling thread or its own.
It keeps a *single* logger pointer: a builder or runtime created with another logger while one
is alive gets the warning "TensorRT maintains only a single logger pointer at any given time,
so the existing value ... will be used instead" (NVIDIA/TensorRT#1475). A logger per builder
and per runtime therefore sends the second engine's errors into the first one's record, and its
one-line error loses TensorRT's reason.

So the process has one logger (:func:`shared_logger`, created lazily under a lock, never
freed: TensorRT holds only a raw pointer to it). It forwards every message to the
``edge_runtime.tensorrt`` Python logger at the matching level, and each error to whoever is
listening: a build or an activation wraps its TensorRT calls in :func:`capture_errors`, which
registers an :class:`ErrorTail` for the calling thread. A message logged on a thread with a
capture goes to that thread's innermost one; a message from one of TensorRT's own threads,
which has none, goes to every open capture (it cannot be told apart, and a reason shown twice
beats a reason lost). The ``ILogger`` subclass is created inside a function, so importing this
module never imports TensorRT.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import tensorrt

LOG = logging.getLogger("edge_runtime.tensorrt")

#: TensorRT severity name -> Python logging level (TensorRT's INFO is chatty: every build
#: prints dozens of lines, so it goes to DEBUG unless asked for).
LEVELS: dict[str, int] = {
    "INTERNAL_ERROR": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "INFO": logging.DEBUG,
    "VERBOSE": logging.DEBUG,
}


def python_level(severity_name: str) -> int:
    """The logging level for a TensorRT severity name (unknown names log at WARNING)."""
    return LEVELS.get(severity_name, logging.WARNING)


class ErrorTail:
    """The last few ERROR / INTERNAL_ERROR messages, thread-safe (TensorRT logs from workers)."""

    def __init__(self, keep: int = 8) -> None:
        self._lock = threading.Lock()
        self._messages: deque[str] = deque(maxlen=keep)

    def add(self, message: str) -> None:
        with self._lock:
            self._messages.append(message.strip())

    def last(self) -> str | None:
        with self._lock:
            return self._messages[-1] if self._messages else None

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


def forward(severity_name: str, message: str, *errors: ErrorTail) -> None:
    """What the logger does with one message: log it, and keep an error in each of ``errors``
    (kept apart from the subclass so it is testable)."""
    level = python_level(severity_name)
    if level >= logging.ERROR:
        for tail in errors:
            tail.add(message)
    LOG.log(level, "TensorRT: %s", message.strip())


class LogRouter:
    """Which :class:`ErrorTail` a message goes to: a stack of captures per thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stacks: dict[int, list[ErrorTail]] = {}

    @contextmanager
    def capture(self) -> Iterator[ErrorTail]:
        """Errors TensorRT logs on this thread (or on its own threads) until the block ends."""
        tail, thread = ErrorTail(), threading.get_ident()
        with self._lock:
            self._stacks.setdefault(thread, []).append(tail)
        try:
            yield tail
        finally:
            with self._lock:
                stack = self._stacks[thread]
                stack.remove(tail)
                if not stack:
                    del self._stacks[thread]

    def sinks(self) -> list[ErrorTail]:
        """This thread's innermost capture, or, on a thread with none, every open one's."""
        with self._lock:
            own = self._stacks.get(threading.get_ident())
            return [own[-1]] if own else [stack[-1] for stack in self._stacks.values()]

    def log(self, severity_name: str, message: str) -> None:
        forward(severity_name, message, *self.sinks())


#: The one router of the process (the shared logger's).
ROUTER = LogRouter()


def capture_errors() -> AbstractContextManager[ErrorTail]:
    """``with capture_errors() as errors:`` around a build or an activation: ``errors`` gets
    what TensorRT logs as errors meanwhile (see the module docstring)."""
    return ROUTER.capture()


class _Route(Protocol):
    def __call__(self, severity_name: str, message: str) -> None: ...


class _Shared:
    """The process's logger, per ``tensorrt`` module (one in a real process; the tests install
    a fresh fake module per test, and a logger of another module's class would not do)."""

    lock = threading.Lock()
    base: type | None = None
    logger: tensorrt.ILogger | None = None


def shared_logger() -> tensorrt.ILogger:
    """The process-wide TensorRT logger: pass it to every ``Builder``, ``Runtime`` and parser,
    and wrap their calls in :func:`capture_errors` to get the errors they cause."""
    import tensorrt as trt

    with _Shared.lock:
        if _Shared.logger is None or _Shared.base is not trt.ILogger:
            _Shared.base, _Shared.logger = trt.ILogger, _make_logger(ROUTER.log)
        return _Shared.logger


def _make_logger(route: _Route) -> tensorrt.ILogger:
    import tensorrt as trt

    class PythonLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)  # pybind11 trampolines must init their base explicitly

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            route(severity.name, msg)

    return PythonLogger()
