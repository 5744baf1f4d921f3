"""Build progress: TensorRT's phases as one-line messages for the ``progress`` callback.

TensorRT 10.0 added ``IProgressMonitor``: the builder announces nested phases (``Building
engine`` > ``Optimizing`` > ...) with step counts, from its own threads. :class:`PhaseReport`
turns those calls into a few readable lines (phases two levels deep, steps at each quarter) and
is plain Python; :func:`make_progress_monitor` wraps it in the ``IProgressMonitor`` subclass,
created inside the function. Older releases report nothing during a build; the builder then
sends coarse messages around the steps it takes itself.

The monitor is also how a build is stopped from Python. TensorRT's wrapper catches whatever a
monitor method raises, prints it and carries on, except in ``step_complete``, where it answers
false and so cancels the build (``PyProgressMonitor``, ``python/src/infer/pyCore.cpp``, 10.3.0);
``phase_start`` cannot cancel at all ("request the cancellation from within step_complete",
``samples/python/simple_progress_monitor``). So every method runs under the build's
:class:`~.callbacks.CallbackErrors`, and ``step_complete`` answers false once anything there
(a calibrator's ``get_batch`` included) has raised: the build ends at its next step and the
builder re-raises the exception.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from edge_runtime.engines.backends.tensorrt.callbacks import CallbackErrors
from edge_runtime.engines.base import MessageFn

if TYPE_CHECKING:
    import tensorrt


class PhaseReport:
    """Thread-safe formatter of TensorRT build phases (see the module docstring)."""

    def __init__(self, progress: MessageFn, depth: int = 2) -> None:
        self._progress = progress
        self._depth = depth
        self._lock = threading.Lock()
        self._levels: dict[str, int] = {}
        self._steps: dict[str, int] = {}
        self._quarters: dict[str, int] = {}

    def start(self, phase: str, parent: str | None, steps: int) -> None:
        with self._lock:
            level = self._levels.get(parent, -1) + 1 if parent else 0
            self._levels[phase] = level
            self._steps[phase] = max(steps, 1)
            self._quarters[phase] = 0
            if level < self._depth:
                self._progress(f"TensorRT: {'  ' * level}{phase}")

    def step(self, phase: str, step: int) -> bool:
        """Always True: never cancel the build."""
        with self._lock:
            level, steps = self._levels.get(phase, 0), self._steps.get(phase, 1)
            quarter = 4 * (step + 1) // steps
            if level < self._depth and steps >= 4 and quarter > self._quarters.get(phase, 0):
                self._quarters[phase] = quarter
                self._progress(f"TensorRT: {'  ' * level}{phase} {step + 1}/{steps}")
        return True

    def finish(self, phase: str) -> None:
        with self._lock:
            self._levels.pop(phase, None)
            self._steps.pop(phase, None)
            self._quarters.pop(phase, None)


def make_progress_monitor(progress: MessageFn,
                          errors: CallbackErrors | None = None) -> tensorrt.IProgressMonitor:
    """An ``IProgressMonitor`` reporting to ``progress`` (TensorRT 10.0+) that cancels the build
    once a callback has failed (see the module docstring). Pass the build's ``errors`` to
    re-raise that failure when the build returns; without them the monitor keeps its own.
    Keep it alive until the build returns."""
    import tensorrt as trt

    report = PhaseReport(progress)
    failures = errors if errors is not None else CallbackErrors()

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)  # pybind11 trampolines must init their base

        def phase_start(self, phase_name: str, parent_phase: str | None,
                        num_steps: int) -> None:  # None for a top-level phase
            failures.call("phase_start",
                          lambda: report.start(phase_name, parent_phase, num_steps), None)

        def step_complete(self, phase_name: str, step: int) -> bool:
            go_on = failures.call("step_complete", lambda: report.step(phase_name, step), False)
            return go_on and not failures.failed

        def phase_finish(self, phase_name: str) -> None:
            failures.call("phase_finish", lambda: report.finish(phase_name), None)

    return Monitor()
