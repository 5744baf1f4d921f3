"""Admission and degradation: which lane, engine variant and rate each pipeline gets in a mode.

The dispatcher (``scheduler.core``) orders frames; this module decides, before any frame runs
and again at every power-mode change, whether the set can meet its deadlines at all, and what
gives when it cannot. Pure: it is given each pipeline's demand and the run time of each of its
engine variants *in the mode being planned* (from :mod:`scheduler.costs`), and returns a
:class:`Plan`. The runtime applies plans; ``edge-runtime plan`` simulates them.

The test, per lane (a lane runs one job at a time, to completion). For each periodic pipeline
*i* with run time C_i, period T_i and deadline D_i, the work that can stand between a frame's
release and its completion is bounded by

    demand_i = B_i + C_i + sum over j != i of equal or higher class: C_j x ceil(D_i / T_j)

where B_i, the blocking term, is the longest job that may have just started when i's frame
arrives and that i cannot overtake: lanes are not pre-emptible. A same-class job with a later
deadline blocks for its whole run time. A lower-class job blocks only for its *tail*: the
dispatcher's deadline protection (``scheduler.core`` rule 7) never starts a lower-class job
whose expected run time would make a higher class's next frame late, so what can still block
is how far a run overshoots its expected (mean) time, here its 95th percentile less its mean.
Protection has a price, and the test charges it: a lower-class job only runs in a gap long
enough for it, and the gap the higher classes leave is at most

    G_k = min over higher-class j of (T_j + D_j - C_j) - sum over higher-class j of C_j

so a pipeline whose run time exceeds G_k would starve (every frame held back, then dropped)
and fails the test. The lane fits when every demand_i <= D_i, every lower-class job fits its
gap, and the utilisation sum C_j / T_j <= 1. Which C: a critical pipeline's deadline is a
guarantee, so its demand counts the cost model's tail (p95) of every job in its way; any other
pipeline's counts means (an unlucky frame costs only that frame); gaps count tails, as the
dispatcher reserves them; utilisation counts means (the load the lane carries on average).
A best-effort pipeline's own terms (its demand within its deadline, its gap) are *soft*: when
they fail, it loses only its own frames (protection keeps everyone else whole), so they never
make a lane fail. The planner moves such a pipeline to a variant where they hold if it has one,
and otherwise lets it run as best effort, saying so in its reason. What is never soft: the
lane's utilisation, and a pipeline whose own run time exceeds its deadline (no frame of it
can ever make it; running it would only waste the lane).
A pipeline with no rate (free-running, or pushed by the host) only fills idle time: it counts
as a blocker, never as demand.

Degradation, when a lane fails (a hard term): the lowest class first (then the latest
deadline, then the largest share of the lane), one step at a time, re-testing after each:

1. *move* it to another of its variants, in its order of preference, whose lane still fits
   with it there;
2. *slow* it: the highest rate in [min_rate_hz, rate) at which its lane fits;
3. *pause* it, if that makes the lane fit;
4. failing all three, take the partial step that helps most (slow to the floor, or pause) and
   go on to the next pipeline.

A critical pipeline may be moved, or slowed when its ``min_rate_hz`` allows, but is never
paused, and every step taken for it is logged as a warning by the runtime. When no step is left
and a lane still fails, :class:`InfeasibleError` says which lane, by how much, and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from edge_runtime.errors import UserError

#: Class rank of a critical pipeline (``Priority.CRITICAL.rank``).
CRITICAL = 0
#: Class rank of a best-effort pipeline (``Priority.BEST_EFFORT.rank``).
BEST_EFFORT = 3
#: Rate steps of the search for the highest rate that fits.
RATE_SEARCH_STEPS = 20


@dataclass(frozen=True)
class Option:
    """One engine variant of a pipeline, priced in the mode being planned."""

    variant: str
    lane: str
    run_s: float
    mean_s: float | None = None

    @property
    def expected_s(self) -> float:
        return self.run_s if self.mean_s is None else min(self.mean_s, self.run_s)


@dataclass(frozen=True)
class Demand:
    """What a pipeline asks for."""

    name: str
    priority: int
    #: The rate it wants (None: free-running or pushed; only fills idle time).
    rate_hz: float | None
    min_rate_hz: float | None
    deadline_s: float | None
    #: Its variants in order of preference; the first is the configured engine.
    options: tuple[Option, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError(f"pipeline {self.name} has no engine variant to plan")


@dataclass(frozen=True)
class Grant:
    """What the plan gives one pipeline."""

    pipeline: str
    variant: str
    lane: str
    rate_hz: float | None
    paused: bool
    #: Why it was degraded (None: it got what it asked for).
    reason: str | None
    run_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "lane": self.lane,
                "rate_hz": None if self.rate_hz is None else round(self.rate_hz, 3),
                "paused": self.paused, "reason": self.reason,
                "run_ms": round(self.run_s * 1e3, 3)}


@dataclass(frozen=True)
class LaneCheck:
    """The test of one lane (module docstring)."""

    lane: str
    utilisation: float
    #: How far over the lane is: max(utilisation - 1, demand_i / D_i - 1); <= 0 fits.
    over: float
    #: One line on the worst term, for logs and errors.
    why: str
    #: How many terms of the test fail (a step that fixes one of several helps).
    failures: int = 0
    #: Best-effort pipelines whose own terms fail (soft: they cost only their own frames),
    #: with the line on each.
    soft: tuple[tuple[str, str], ...] = ()

    @property
    def fits(self) -> bool:
        return self.over <= 1e-9

    @property
    def badness(self) -> tuple[int, float]:
        """What a degradation step must reduce: failing terms, then how far over."""
        return (self.failures, max(self.over, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"utilisation": round(self.utilisation, 4), "fits": self.fits,
                "over": round(max(self.over, 0.0), 4), "why": self.why,
                "best_effort_short": dict(self.soft)}


@dataclass(frozen=True)
class Plan:
    """Every pipeline's grant in one power mode, and each lane's test."""

    mode: str
    grants: dict[str, Grant]
    lanes: dict[str, LaneCheck]

    @property
    def fits(self) -> bool:
        return all(check.fits for check in self.lanes.values())

    @property
    def decisions(self) -> list[str]:
        """One line per degraded pipeline."""
        return [f"{g.pipeline}: {g.reason}" for g in self.grants.values() if g.reason]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "fits": self.fits,
                "pipelines": {name: g.to_dict() for name, g in self.grants.items()},
                "lanes": {name: c.to_dict() for name, c in self.lanes.items()}}


class InfeasibleError(UserError):
    """Critical pipelines cannot meet their deadlines in a power mode, whatever else gives."""

    def __init__(self, message: str, plan: Plan, *, file: str | None = None,
                 key: str | None = None) -> None:
        super().__init__(message, file=file, key=key)
        self.plan = plan

    def located(self, file: str, key: str = "pipelines") -> InfeasibleError:
        """The same refusal, against the pipeline set's file."""
        return InfeasibleError(self.message, self.plan, file=file, key=key)


# --- the test ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    name: str
    priority: int
    period_s: float | None
    deadline_s: float | None
    run_s: float
    expected_s: float

    def blocking_s(self, other: _Task) -> float:
        """How long a job of this task, just started, can hold ``other``'s frame back (module
        docstring): a same-class job with a later deadline for all of its run, a lower-class
        one for its tail beyond what protection expected, a higher class not at all (that is
        interference)."""
        if self.name == other.name or self.priority < other.priority:
            return 0.0
        if self.priority > other.priority:
            protected = other.period_s is not None and other.deadline_s is not None
            return self.run_s - self.expected_s if protected else self.run_s
        later = (self.deadline_s if self.deadline_s is not None else math.inf) > \
            (other.deadline_s if other.deadline_s is not None else math.inf)
        return self.run_s if later else 0.0


def _gap_s(task: _Task, periodic: Sequence[_Task]) -> float | None:
    """The longest gap higher classes leave ``task`` (module docstring); None: no higher
    class on the lane protects a frame."""
    higher = [t for t in periodic if t.priority < task.priority and t.deadline_s is not None
              and t.period_s is not None]
    if not higher:
        return None
    return min((t.period_s or 0.0) + (t.deadline_s or 0.0) - t.run_s for t in higher) \
        - sum(t.run_s for t in higher)


def _cost_for(task: _Task) -> Callable[[_Task], float]:
    """Which run time a pipeline's deadline is tested with: a critical one's, the tail of
    every job in its way (its deadline is a guarantee); any other's, their means (an unlucky
    frame costs only that frame: protection keeps the critical ones whole)."""
    if task.priority == CRITICAL:
        return lambda t: t.run_s
    return lambda t: t.expected_s


def _blocking_s(blocker: _Task, task: _Task) -> float:
    """What ``blocker`` adds to ``task``'s demand: for a critical task, its blocking; for any
    other, a same-class job with a later deadline at its mean (a lower class is held back by
    protection)."""
    if task.priority == CRITICAL:
        return blocker.blocking_s(task)
    if blocker.priority == task.priority and blocker.blocking_s(task) > 0:
        return blocker.expected_s
    return 0.0


def _terms(tasks: Sequence[_Task]) -> list[tuple[_Task | None, float, str]]:
    """Every term of the lane test: (whose it is, None when it is everyone's; how far over,
    <= 0 when it holds; one line on it). A pipeline that alone takes longer than its deadline
    can never make it: that term is everyone's (it would only waste the lane)."""
    periodic = [t for t in tasks if t.period_s is not None]
    utilisation = sum(t.expected_s / t.period_s for t in periodic if t.period_s)
    terms: list[tuple[_Task | None, float, str]] = [
        (None, utilisation - 1.0, f"utilisation {utilisation:.0%}")]
    terms += [(None, t.expected_s / t.deadline_s - 1.0,
               f"{t.name} alone takes {t.expected_s * 1e3:.1f} ms, more than its "
               f"{t.deadline_s * 1e3:.1f} ms deadline") for t in periodic if t.deadline_s]
    for task in tasks:
        gap = _gap_s(task, periodic)
        if gap is not None:
            starved = task.run_s / gap - 1.0 if gap > 0 else math.inf
            terms.append((task, starved, f"{task.name} needs a {task.run_s * 1e3:.1f} ms "
                                         f"gap and higher classes leave at most "
                                         f"{max(gap, 0.0) * 1e3:.1f} ms (it would starve)"))
    for task in periodic:
        if task.deadline_s is None:
            continue
        cost = _cost_for(task)
        blocker = max(tasks, key=lambda t: _blocking_s(t, task))
        blocking = _blocking_s(blocker, task)
        interference = sum(
            cost(t) * math.ceil(task.deadline_s / t.period_s - 1e-9) for t in periodic
            if t.name != task.name and t.period_s and t.priority <= task.priority)
        demand = blocking + cost(task) + interference
        terms.append((task, demand / task.deadline_s - 1.0,
                      f"{task.name} needs {demand * 1e3:.1f} ms of its "
                      f"{task.deadline_s * 1e3:.1f} ms deadline (own {cost(task) * 1e3:.1f}, "
                      f"higher or equal classes {interference * 1e3:.1f}, waiting behind "
                      f"{blocker.name if blocking > 0 else 'nothing'} {blocking * 1e3:.1f})"))
    return terms


def check_lane(lane: str, tasks: Sequence[_Task]) -> LaneCheck:
    """The lane test of the module docstring. A best-effort pipeline's own terms (its deadline,
    its gap) are *soft*: missing them costs only its own frames, so they never make the lane
    fail; they are reported, and the planner moves it where they hold if it can."""
    utilisation = sum(t.expected_s / t.period_s for t in tasks if t.period_s)
    over, why, failures = -math.inf, "", 0
    soft: list[tuple[str, str]] = []
    for owner, term_over, term_why in _terms(tasks):
        if owner is not None and owner.priority == BEST_EFFORT:
            if term_over > 1e-9:
                soft.append((owner.name, term_why))
            continue
        failures += int(term_over > 1e-9)
        if term_over > over:
            over, why = term_over, term_why
    if over <= 1e-9:
        why = f"fits: utilisation {utilisation:.0%}"
    return LaneCheck(lane, utilisation, over, why, failures, tuple(soft))


# --- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Choice:
    """The planner's working state for one pipeline."""

    demand: Demand
    option: int
    rate_hz: float | None
    paused: bool
    reasons: tuple[str, ...] = ()

    @property
    def current(self) -> Option:
        return self.demand.options[self.option]

    def task(self) -> _Task:
        rate = self.rate_hz
        return _Task(self.demand.name, self.demand.priority, 1.0 / rate if rate else None,
                     self.demand.deadline_s, self.current.run_s, self.current.expected_s)


def _check(mode_lanes: Sequence[str], choices: dict[str, _Choice]) -> dict[str, LaneCheck]:
    lanes = sorted(set(mode_lanes) | {c.current.lane for c in choices.values()})
    return {lane: check_lane(lane, [c.task() for c in choices.values()
                                    if not c.paused and c.current.lane == lane])
            for lane in lanes}


def plan(mode: str, demands: Sequence[Demand], lanes: Sequence[str] = (),
         shed: str | None = None) -> Plan:
    """Admit ``demands`` in ``mode`` (module docstring); raises :class:`InfeasibleError` when
    critical pipelines cannot fit whatever else gives. With ``shed`` (why: the power
    governor's reason) non-critical load is shed before anything is tested: best-effort
    pipelines paused, the other non-critical ones at their floors (``min_rate_hz``)."""
    choices = {d.name: _shed(d, shed, mode) if shed else _Choice(d, 0, d.rate_hz, False)
               for d in demands}
    checks = _check(lanes, choices)
    for _ in range(8 * len(choices) + 8):
        failing = [c for c in checks.values() if not c.fits]
        if not failing:
            break
        step = _next_step(mode, lanes, choices, checks, failing)
        if step is None:
            raise InfeasibleError(_infeasible_message(mode, failing), _plan(mode, choices,
                                                                            checks))
        choices[step.demand.name] = step
        checks = _check(lanes, choices)
    failing = [c for c in checks.values() if not c.fits]
    if failing:  # every step helped, yet not enough (a step can only help so many times)
        raise InfeasibleError(_infeasible_message(mode, failing), _plan(mode, choices, checks))
    choices, checks = _settle_best_effort(mode, lanes, choices, checks)
    return _plan(mode, choices, checks)


def _shed(demand: Demand, why: str, mode: str) -> _Choice:
    """A demand's choice in a shed plan (see :func:`plan`)."""
    if demand.priority == CRITICAL:
        return _Choice(demand, 0, demand.rate_hz, False)
    if demand.priority == BEST_EFFORT:
        return _Choice(demand, 0, demand.rate_hz, True, (f"paused at {mode}: {why}",))
    floor = demand.min_rate_hz
    if demand.rate_hz is None or floor is None or floor >= demand.rate_hz:
        return _Choice(demand, 0, demand.rate_hz, False)
    return _Choice(demand, 0, floor, False, (f"slowed to {floor:g} Hz at {mode}: {why}",))


def _settle_best_effort(mode: str, lanes: Sequence[str], choices: dict[str, _Choice],
                        checks: dict[str, LaneCheck]
                        ) -> tuple[dict[str, _Choice], dict[str, LaneCheck]]:
    """Best-effort pipelines whose own terms fail (soft): each moves to a variant where they
    hold and nothing fails, if it has one; else it stays, with the reason noted (it runs when
    its lane is free; rule 9 drops the frames that cannot make it)."""
    for name in dict.fromkeys(n for c in checks.values() for n, _ in c.soft):
        victim = choices[name]
        short = dict(checks[victim.current.lane].soft).get(name)
        if short is None or victim.paused:
            continue  # an earlier move settled it
        moved = _move_soft(mode, lanes, choices, victim, short)
        if moved is not None:
            choices = _with(choices, moved)
            checks = _check(lanes, choices)
        else:
            choices = _with(choices, replace(victim, reasons=(
                *victim.reasons, f"best effort at {mode}, may miss: {short}; it runs when "
                f"{victim.current.lane} is free, and a frame that cannot make its deadline is "
                "dropped before it runs")))
    return choices, checks


def _move_soft(mode: str, lanes: Sequence[str], choices: dict[str, _Choice], victim: _Choice,
               short: str) -> _Choice | None:
    here = victim.current
    for index, option in enumerate(victim.demand.options):
        if index == victim.option:
            continue
        moved = replace(victim, option=index)
        after = _check(lanes, _with(choices, moved))[option.lane]
        if after.fits and victim.demand.name not in dict(after.soft):
            reason = (f"moved from {here.variant} on {here.lane} to {option.variant} on "
                      f"{option.lane} at {mode}: on {here.lane} {short}")
            return replace(moved, reasons=(*victim.reasons, reason))
    return None


def _plan(mode: str, choices: dict[str, _Choice], checks: dict[str, LaneCheck]) -> Plan:
    grants = {name: Grant(name, c.current.variant, c.current.lane,
                          None if c.paused else c.rate_hz, c.paused,
                          "; ".join(c.reasons) or None, c.current.run_s)
              for name, c in choices.items()}
    return Plan(mode, grants, checks)


def _victims(choices: dict[str, _Choice], failing: Sequence[LaneCheck]) -> list[_Choice]:
    """Pipelines on failing lanes, the first to give first."""
    lanes = {c.lane for c in failing}
    candidates = [c for c in choices.values() if not c.paused and c.current.lane in lanes]

    def order(choice: _Choice) -> tuple[int, float, float]:
        share = choice.current.run_s * (choice.rate_hz or 0.0)
        deadline = choice.demand.deadline_s if choice.demand.deadline_s is not None \
            else math.inf
        return (-choice.demand.priority, -deadline, -share)

    return sorted(candidates, key=order)


def _next_step(mode: str, lanes: Sequence[str], choices: dict[str, _Choice],
               checks: dict[str, LaneCheck], failing: Sequence[LaneCheck]) -> _Choice | None:
    for victim in _victims(choices, failing):
        lane = checks[victim.current.lane]
        for step in (_move, _slow, _pause):
            chosen = step(mode, lanes, choices, victim, lane)
            if chosen is not None:
                return chosen
    for victim in _victims(choices, failing):
        chosen = _partial(mode, lanes, choices, victim, checks[victim.current.lane])
        if chosen is not None:
            return chosen
    return None


def _with(choices: dict[str, _Choice], choice: _Choice) -> dict[str, _Choice]:
    return {**choices, choice.demand.name: choice}


def _move(mode: str, lanes: Sequence[str], choices: dict[str, _Choice], victim: _Choice,
          lane: LaneCheck) -> _Choice | None:
    """The first other variant whose lane fits with the pipeline there."""
    here = victim.current
    for index, option in enumerate(victim.demand.options):
        if index == victim.option or (option.lane == here.lane and option.run_s >= here.run_s):
            continue
        moved = replace(victim, option=index)
        after = _check(lanes, _with(choices, moved))
        if after[option.lane].fits and after[here.lane].badness < lane.badness:
            reason = (f"moved from {here.variant} on {here.lane} to {option.variant} on "
                      f"{option.lane} at {mode}: {here.lane} {_over(lane)}")
            return replace(moved, reasons=(*victim.reasons, reason))
    return None


def _slow(mode: str, lanes: Sequence[str], choices: dict[str, _Choice], victim: _Choice,
          lane: LaneCheck) -> _Choice | None:
    """The highest rate in [floor, rate) at which the lane fits."""
    rate, floor = victim.rate_hz, victim.demand.min_rate_hz
    if rate is None or floor is None or floor >= rate - 1e-9:
        return None

    def fits(hz: float) -> bool:
        return _check(lanes, _with(choices, replace(victim, rate_hz=hz)))[
            victim.current.lane].fits

    if not fits(floor):
        return None
    low, high = floor, rate
    for _ in range(RATE_SEARCH_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    granted = math.floor(low * 100) / 100 if math.floor(low * 100) / 100 >= floor else low
    reason = (f"slowed from {rate:g} Hz to {granted:.2f} Hz at {mode}: {victim.current.lane} "
              f"{_over(lane)}")
    return replace(victim, rate_hz=granted, reasons=(*victim.reasons, reason))


def _pause(mode: str, lanes: Sequence[str], choices: dict[str, _Choice], victim: _Choice,
           lane: LaneCheck) -> _Choice | None:
    if victim.demand.priority == CRITICAL:
        return None
    paused = replace(victim, paused=True)
    if not _check(lanes, _with(choices, paused))[victim.current.lane].fits:
        return None
    reason = f"paused at {mode}: {victim.current.lane} {_over(lane)}"
    return replace(paused, reasons=(*victim.reasons, reason))


def _partial(mode: str, lanes: Sequence[str], choices: dict[str, _Choice], victim: _Choice,
             lane: LaneCheck) -> _Choice | None:
    """No single step makes the lane fit: the one that helps most, so the next pipeline's
    steps start from less."""
    steps: list[tuple[tuple[int, float], _Choice]] = []
    floor = victim.demand.min_rate_hz
    if victim.rate_hz is not None and floor is not None and floor < victim.rate_hz - 1e-9:
        slowed = replace(victim, rate_hz=floor, reasons=(
            *victim.reasons, f"slowed from {victim.rate_hz:g} Hz to its floor {floor:g} Hz at "
            f"{mode}: {victim.current.lane} {_over(lane)}"))
        steps.append((_check(lanes, _with(choices, slowed))[victim.current.lane].badness,
                      slowed))
    if victim.demand.priority != CRITICAL:
        paused = replace(victim, paused=True, reasons=(
            *victim.reasons, f"paused at {mode}: {victim.current.lane} {_over(lane)}"))
        steps.append((_check(lanes, _with(choices, paused))[victim.current.lane].badness,
                      paused))
    helpful = [(badness, step) for badness, step in steps if badness < lane.badness]
    return min(helpful, key=lambda s: s[0])[1] if helpful else None


def _over(lane: LaneCheck) -> str:
    return f"was over by {lane.over:.0%} ({lane.why})"


def _infeasible_message(mode: str, failing: Sequence[LaneCheck]) -> str:
    worst = max(failing, key=lambda c: c.over)
    return (f"the pipeline set does not fit power mode {mode}: lane {worst.lane} is over by "
            f"{worst.over:.0%} with every lower class degraded ({worst.why}); critical "
            "pipelines are never paused (give them a faster engine variant, a longer "
            "deadline_ms or a lower min_rate_hz, or choose a higher power mode)")
