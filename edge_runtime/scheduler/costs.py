"""The cost model: how long one inference of an engine takes, per lane, power mode and batch.

The planner and the dispatcher need a run time before anything has run (admission happens at
activate, and at a switch to a mode not yet seen), so every figure starts from a *prior*, given
by the caller: the simulated Jetson's prediction, or on a real module what warm-up measured.
Completions then refine it online: each (engine, lane, mode, batch) keeps a window of its most
recent run times, from which a mean and a 95th-percentile tail are read. Figures are kept per
power mode, so a switch never reuses the other mode's (a 40 W run time would under-protect
every deadline at 15 W). Pure policy-side bookkeeping: it is told run times, it never measures.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CostKey:
    """One engine, on one lane, in one power mode, at one batch size (and, for a sequence
    engine, one padded length in tokens; 0 for everything else)."""

    engine: str
    lane: str
    mode: str
    batch: int = 1
    length: int = 0


@dataclass(frozen=True)
class Cost:
    """What the model says of one key."""

    mean_s: float
    p95_s: float
    samples: int
    #: ``prior`` (no completion yet, or too few) or ``measured``.
    source: str

    @property
    def plan_s(self) -> float:
        """The figure admission plans with: the tail, so a plan holds for 95 % of frames."""
        return self.p95_s


#: (key) -> predicted seconds, or None when nothing can be predicted for it.
Prior = Callable[[CostKey], float | None]

#: Completions kept per key (about 8 s of a 30 Hz pipeline).
WINDOW = 256
#: Completions before measured figures replace the prior.
MIN_SAMPLES = 16


class CostModel:
    """Run times per :class:`CostKey`: a prior, refined by completions (module docstring)."""

    def __init__(self, prior: Prior, window: int = WINDOW, min_samples: int = MIN_SAMPLES):
        if min_samples > window:
            raise ValueError("min_samples must not exceed window")
        self._prior = prior
        self._window = window
        self._min_samples = min_samples
        self._samples: dict[CostKey, deque[float]] = {}

    def observe(self, key: CostKey, seconds: float) -> None:
        """A completion of ``key`` took ``seconds`` on its lane."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque(maxlen=self._window)
        samples.append(seconds)

    def cost(self, key: CostKey) -> Cost | None:
        """Measured figures once there are enough completions in this mode, else the prior;
        None when neither exists."""
        samples = self._samples.get(key)
        if samples is not None and len(samples) >= self._min_samples:
            ordered = sorted(samples)
            tail = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
            return Cost(sum(ordered) / len(ordered), tail, len(ordered), "measured")
        predicted = self._prior(key)
        if predicted is None:
            return None
        return Cost(predicted, predicted, len(samples or ()), "prior")

    def forget(self, engine: str) -> None:
        """Drop what was learned of an engine (it was rebuilt by a reload)."""
        for key in [k for k in self._samples if k.engine == engine]:
            del self._samples[key]


#: A plan is made again when a figure it used has grown by this share (a plan that holds
#: only on yesterday's run times under-protects every deadline it admitted) ...
DRIFT_UP = 0.15
#: ... or has fallen by this share (a clear fall only: a plan upgraded on noise would be
#: downgraded again on the next noise, and each swing costs frames).
DRIFT_DOWN = 0.30


def drift(planned: Mapping[CostKey, Cost], now: Mapping[CostKey, Cost],
          up: float = DRIFT_UP, down: float = DRIFT_DOWN) -> list[str]:
    """Why a plan made with ``planned`` no longer describes ``now``: one line per key whose
    mean or tail moved past the thresholds (empty: the plan still holds). Keys missing on
    either side are not compared (nothing to compare with)."""
    lines = []
    for key, before in planned.items():
        after = now.get(key)
        if after is None:
            continue
        for what, old, new in (("mean", before.mean_s, after.mean_s),
                               ("p95", before.p95_s, after.p95_s)):
            if old > 0 and (new > old * (1 + up) or new < old * (1 - down)):
                lines.append(f"{key.engine}@{key.lane} batch {key.batch} {what} "
                             f"{new * 1e3:.1f} ms, planned with {old * 1e3:.1f} ms")
                break
    return lines
