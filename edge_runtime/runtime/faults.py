"""Faults stay local: what one pipeline's failures do to that pipeline, and nothing else.

A stage that raises (preprocess, engine, decode, sink) fails that frame: the failure is counted
by kind and logged once per kind with its reason, and the pipeline moves on to its next frame.
After ``max_consecutive_failures`` failures in a row the pipeline goes to ``failed``: it stops
taking frames (its deadline-protection reservation is released, so it holds no lane), and is
restarted after a backoff that doubles on every restart that fails again. A frame the source
cannot decode is a *bad frame*: counted, skipped, and no failure of the pipeline's.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from edge_runtime.config.pipeline import FaultPolicy

log = logging.getLogger("edge_runtime.faults")


class Health(str, enum.Enum):
    RUNNING = "running"
    DISABLED = "disabled"
    FAILED = "failed"
    EXHAUSTED = "exhausted"
    #: The planner paused it: the power mode cannot carry it (the reason is in the status).
    PAUSED = "paused"


class Stage(str, enum.Enum):
    SOURCE = "source"
    PREPROCESS = "preprocess"
    ENGINE = "engine"
    DECODE = "decode"
    SINK = "sink"


@dataclass
class FaultTracker:
    """One pipeline's failure counts and restart state. Frames fail on the loop thread
    (source, preprocess, engine) and off it (decode on the output thread, sinks on theirs),
    so every change holds the tracker's lock."""

    pipeline: str
    policy: FaultPolicy
    consecutive: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    bad_frames: int = 0
    restarts: int = 0
    last_error: str | None = None
    failed_at: float | None = None
    _logged: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def failure(self, stage: Stage, exc: BaseException, now: float) -> bool:
        """Count a failed frame; True when it is the one that fails the pipeline."""
        kind = f"{stage.value}: {type(exc).__name__}"
        with self._lock:
            self.errors[kind] += 1
            self.consecutive += 1
            self.last_error = f"{kind}: {exc}"
            failing = self.failed_at is None and \
                self.consecutive >= self.policy.max_consecutive_failures
            if failing:
                self.failed_at = now
        self._log_once(kind, exc)
        if failing:
            log.error("pipeline %s failed after %d consecutive failures (last: %s)%s",
                      self.pipeline, self.consecutive, self.last_error,
                      "" if self.restart_delay_s() is None
                      else f"; restarting in {self.restart_delay_s():g} s")
            return True
        return False

    def bad_frame(self, exc: BaseException) -> None:
        with self._lock:
            self.bad_frames += 1
        self._log_once(f"bad frame: {type(exc).__name__}", exc)

    def success(self) -> None:
        with self._lock:
            self.consecutive = 0

    def error_counts(self) -> dict[str, int]:
        """A copy of the failure counts (safe while other threads add to them)."""
        with self._lock:
            return dict(self.errors)

    def restart_delay_s(self) -> float | None:
        """Seconds from failing to the next restart; None when no restart is left."""
        policy = self.policy
        if policy.max_restarts is not None and self.restarts >= policy.max_restarts:
            return None
        return float(min(policy.restart_backoff_s * 2.0 ** self.restarts, policy.max_backoff_s))

    def restarted(self) -> None:
        with self._lock:
            self.restarts += 1
            self.consecutive = 0
            self.failed_at = None
        log.info("pipeline %s restarted (restart %d)", self.pipeline, self.restarts)

    @property
    def failed(self) -> bool:
        return self.failed_at is not None

    def _log_once(self, kind: str, exc: BaseException) -> None:
        with self._lock:
            first = kind not in self._logged
            self._logged.add(kind)
        if first:
            log.warning("pipeline %s: %s: %s (counted; logged once per kind)", self.pipeline,
                        kind, exc)
