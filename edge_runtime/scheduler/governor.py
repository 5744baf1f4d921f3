"""The power governor: which power mode to be in, and when to shed load, from what the module
measures of itself.

Pure policy, beside the planner: it is told readings (module watts, hottest zone) with the
time, and answers with a :class:`Decision`; the runtime applies decisions (asks the planner
for a shed plan, switches the mode) on whichever clock it runs, real or simulated.

Two policies (``power:`` in a pipeline set):

* a **budget** (``budget_w``): at activation :func:`choose_mode` picks the mode with the most
  schedulable throughput whose predicted power fits the budget; while running, measured power
  over the budget is acted on as below;
* **auto**: the same reaction to measured power (when a budget is set) and to temperature
  (``max_temp_c``).

The reaction, in the order that costs a robot least: over a limit for ``hold_s`` first sheds
non-critical load (the planner's shed plan: non-critical pipelines to their floors, best effort
paused), and if that is not enough after another ``hold_s``, steps the mode down one at a time.
Recovery mirrors it with hysteresis: only when every reading has stayed ``margin`` under its
limit for ``recover_s`` (longer than ``hold_s``, so the governor does not chatter), one step
back up at a time, the shed plan lifted last, never above the mode it started in.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GovernorSettings:
    """Limits and timing of the governor (``power:`` in the pipeline set)."""

    budget_w: float | None = None
    max_temp_c: float | None = None
    hold_s: float = 3.0
    recover_s: float = 30.0
    margin_w: float = 1.0
    margin_c: float = 5.0


@dataclass(frozen=True)
class Reading:
    """What the module measured at ``at_s`` (None: not known, never acted on)."""

    at_s: float
    watts: float | None
    hottest_c: float | None


class Step(str, enum.Enum):
    """What the runtime should do."""

    HOLD = "hold"
    #: The mode chosen for a budget at activation (:func:`choose_mode`).
    CHOOSE = "choose"
    SHED = "shed"
    STEP_DOWN = "step_down"
    STEP_UP = "step_up"
    RESTORE = "restore"


@dataclass(frozen=True)
class Decision:
    """One decision: the step, the mode it goes to (for mode steps), and why."""

    step: Step
    reason: str
    mode: str | None = None


HOLD = Decision(Step.HOLD, "within limits")


class Governor:
    """Reacts to readings (module docstring). ``modes`` are mode labels, lowest power first;
    ``ceiling`` is the highest mode it may step back up to (the one it started in)."""

    def __init__(self, settings: GovernorSettings, modes: Sequence[str], ceiling: str) -> None:
        if ceiling not in modes:
            raise ValueError(f"{ceiling} is not one of {list(modes)}")
        self.settings = settings
        self.modes = list(modes)
        self.ceiling = ceiling
        self.shedding = False
        #: The lowest mode a step down was found to reach: a mode the runtime refused (the
        #: critical pipelines do not fit it) is not asked for again.
        self.floor = self.modes[0]
        self._over_since: float | None = None
        self._under_since: float | None = None

    def tick(self, reading: Reading, mode: str) -> Decision:
        """The decision for ``reading`` while in ``mode``. A step resets the clocks, so the
        next step waits its own hold (or recovery) time: one step per period, effect seen
        first."""
        over = self._over(reading)
        if over:
            self._under_since = None
            self._over_since = reading.at_s if self._over_since is None else self._over_since
            if reading.at_s - self._over_since < self.settings.hold_s:
                return Decision(Step.HOLD, f"{over}, for under {self.settings.hold_s:g} s")
            self._over_since = reading.at_s
            return self._down(mode, over)
        self._over_since = None
        under = self._under(reading)
        if not under:
            self._under_since = None
            return HOLD
        self._under_since = reading.at_s if self._under_since is None else self._under_since
        if reading.at_s - self._under_since < self.settings.recover_s:
            return HOLD
        self._under_since = reading.at_s
        return self._up(mode, under)

    def refused(self, decision: Decision) -> None:
        """The runtime could not step down to ``decision.mode`` (the critical pipelines do
        not fit it): the mode above it becomes the floor."""
        if decision.step is Step.STEP_DOWN and decision.mode in self.modes:
            self.floor = self.modes[min(self.modes.index(decision.mode) + 1,
                                        len(self.modes) - 1)]

    def _down(self, mode: str, over: str) -> Decision:
        if not self.shedding:
            self.shedding = True
            return Decision(Step.SHED, f"{over}: shedding non-critical load first")
        index = self.modes.index(mode) if mode in self.modes else 0
        if index <= self.modes.index(self.floor):
            return Decision(Step.HOLD, f"{over}, already in the lowest mode the pipelines fit, "
                                       "with load shed")
        lower = self.modes[index - 1]
        return Decision(Step.STEP_DOWN, f"{over} with load shed: stepping down to {lower}",
                        lower)

    def _up(self, mode: str, under: str) -> Decision:
        index = self.modes.index(mode) if mode in self.modes else len(self.modes) - 1
        if index < self.modes.index(self.ceiling):
            upper = self.modes[index + 1]
            return Decision(Step.STEP_UP, f"{under}: stepping back up to {upper}", upper)
        if self.shedding:
            self.shedding = False
            return Decision(Step.RESTORE, f"{under}: restoring shed load")
        return HOLD

    def _over(self, reading: Reading) -> str:
        """Why the reading is over a limit ('' when it is not)."""
        limits = self.settings
        if limits.budget_w is not None and reading.watts is not None \
                and reading.watts > limits.budget_w:
            return f"power {reading.watts:.1f} W over the {limits.budget_w:g} W budget"
        if limits.max_temp_c is not None and reading.hottest_c is not None \
                and reading.hottest_c > limits.max_temp_c:
            return f"temperature {reading.hottest_c:.1f} °C over {limits.max_temp_c:g} °C"
        return ""

    def _under(self, reading: Reading) -> str:
        """Why the reading is clearly under every limit ('' when it is not: within a margin of
        one, or not known)."""
        limits, parts = self.settings, []
        if limits.budget_w is not None:
            if reading.watts is None or reading.watts > limits.budget_w - limits.margin_w:
                return ""
            parts.append(f"power {reading.watts:.1f} W")
        if limits.max_temp_c is not None:
            if reading.hottest_c is None \
                    or reading.hottest_c > limits.max_temp_c - limits.margin_c:
                return ""
            parts.append(f"temperature {reading.hottest_c:.1f} °C")
        if not parts:
            return ""
        return " and ".join(parts) + f" under the limits for {self.settings.recover_s:g} s"


@dataclass(frozen=True)
class ModeOption:
    """What the planner predicts of one mode for :func:`choose_mode`."""

    mode: str
    fits: bool
    #: Frames per second the plan grants, summed over the pipelines it does not pause.
    throughput_hz: float
    watts: float


def choose_mode(options: Sequence[ModeOption], budget_w: float) -> tuple[str, str]:
    """The mode with the most schedulable throughput whose predicted power fits
    ``budget_w``, and why; ``options`` lowest mode first. Ties go to the highest mode: the
    same frames with more headroom (shorter runs, more slack before every deadline), still
    within the budget. When none fits the budget, the lowest-power mode the critical
    pipelines fit, saying so. Raises ValueError when no mode fits at all."""
    fitting = [o for o in options if o.fits]
    if not fitting:
        raise ValueError("the critical pipelines fit no power mode")
    within = [o for o in fitting if o.watts <= budget_w]
    if not within:
        lowest = min(fitting, key=lambda o: o.watts)
        return lowest.mode, (f"no mode fits the {budget_w:g} W budget: {lowest.mode} is the "
                             f"lowest the pipelines fit ({lowest.watts:.1f} W predicted)")
    rank = {o.mode: index for index, o in enumerate(options)}
    best = max(within, key=lambda o: (round(o.throughput_hz, 6), rank[o.mode]))
    return best.mode, (f"{best.mode}: {best.throughput_hz:.1f} frames/s at {best.watts:.1f} W "
                       f"predicted, the most within the {budget_w:g} W budget")
