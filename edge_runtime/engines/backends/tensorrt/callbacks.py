"""Exceptions raised inside the callbacks TensorRT calls, carried back to the build's caller.

TensorRT calls our calibrator and progress monitor from C++ through pybind11 trampolines, and
every one of them catches whatever the Python body raises, prints ``[ERROR] Exception caught in
get_batch(): ...`` to stderr and answers a default instead (NVIDIA/TensorRT
``python/src/infer/pyInt8.cpp`` and the ``PyProgressMonitor`` in ``python/src/infer/pyCore.cpp``,
tags 8.6.1 and 10.3.0): ``get_batch`` answers false, which TensorRT reads as "no more batches";
``read_calibration_cache`` answers no cache; ``write_calibration_cache``, ``phase_start`` and
``phase_finish`` just return; ``step_complete`` answers false, which cancels the build. So a
:class:`~edge_runtime.errors.UserError` raised there (calibration data of the wrong shape) never
reached the CLI: calibration stopped early, or the build ended in TensorRT's own failure.

:class:`CallbackErrors` is the way back: each callback body runs inside :meth:`~CallbackErrors.
call`, which keeps the first exception and answers the value that ends what TensorRT is doing
(no more batches, cancel); after the first failure every callback answers that value without
running, so no cache is kept from a calibration cut short. The builder re-raises the exception
once ``build_serialized_network`` returns: a user's mistake stays the user's one line, a bug
keeps its traceback. ``KeyboardInterrupt`` is caught too, because the trampolines would swallow
it as well (pybind11 turns any Python exception into ``error_already_set``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

LOG = logging.getLogger("edge_runtime.tensorrt")

T = TypeVar("T")


class CallbackErrors:
    """The first exception raised in one build's TensorRT callbacks (thread-safe: TensorRT
    may call from its own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: BaseException | None = None
        self._where = ""

    @property
    def failed(self) -> bool:
        with self._lock:
            return self._first is not None

    def call(self, where: str, body: Callable[[], T], end: T) -> T:
        """``body()``, or ``end`` if it raises or an earlier callback did. ``where`` names the
        callback (``get_batch``) for the log."""
        if self.failed:
            return end
        try:
            return body()
        except BaseException as exc:  # all of them: the trampoline would swallow any (above)
            self._record(where, exc)
            return end

    def _record(self, where: str, exc: BaseException) -> None:
        with self._lock:
            if self._first is None:
                self._first, self._where = exc, where
        LOG.debug("TensorRT callback %s raised %r; ending the build", where, exc)

    def raise_first(self) -> None:
        """Raise the kept exception, if any (call it when TensorRT has returned)."""
        with self._lock:
            first = self._first
        if first is not None:
            raise first
