"""TensorRT's log, routed into Python logging.

TensorRT reports everything (parser errors, why a layer cannot run on a DLA, why a build failed)
through an ``ILogger`` it calls from its own threads. Ours forwards each message to the
``edge_runtime.tensorrt`` logger at the matching level and keeps the last error messages, so a
failed build or deserialisation can say *why* in its one-line error. The ``ILogger`` subclass
is created inside :func:`make_logger`, so importing this module never imports TensorRT.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING

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


def forward(severity_name: str, message: str, errors: ErrorTail) -> None:
    """What the logger does with one message (kept apart from the subclass so it is testable)."""
    level = python_level(severity_name)
    if level >= logging.ERROR:
        errors.add(message)
    LOG.log(level, "TensorRT: %s", message.strip())


def make_logger() -> tuple[tensorrt.ILogger, ErrorTail]:
    """A TensorRT logger forwarding to Python logging, and the tail of its error messages.

    Keep the logger alive as long as any builder, runtime or engine made with it (TensorRT
    holds only a raw pointer).
    """
    import tensorrt as trt

    errors = ErrorTail()

    class PythonLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)  # pybind11 trampolines must init their base explicitly

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            forward(severity.name, msg, errors)

    return PythonLogger(), errors
