"""The scheduling policy: which waiting frame runs next on which lane.

Rules. Everything that affects a scheduling decision lives in this module, and nothing else does:

1. A *lane* is an accelerator (gpu, dla0, dla1, cpu). It runs at most one job at a time, to
   completion: a GPU or DLA inference cannot be pre-empted once enqueued.
2. A job runs on the lane of its pipeline's current engine; the dispatcher never moves a job.
   Which engine variant (and so which lane) a pipeline uses, and at what rate, is the
   planner's decision (``scheduler.planner``), taken at activate and at power-mode changes.
3. A pipeline has at most ``queue_depth`` jobs waiting. A new frame that finds the queue full
   replaces the *oldest* waiting frame, which is dropped and counted: a robot wants the newest
   view of the world, and a source must never queue without bound.
4. A pipeline has at most one job running, so its outputs leave in capture order.
5. An idle lane takes the eligible waiting job with the smallest key
   ``(priority class, absolute deadline, sequence)``: a higher class always goes first (critical
   before high before normal before best effort); within a class, the earliest deadline goes
   first (EDF; no deadline counts as infinitely late); ties go to the earlier submission. The
   sequence number makes every decision repeatable.
6. A frame that replaces waiting frames inherits the urgency (deadline and sequence) of the
   oldest frame it replaced: the pipeline has been waiting since then, and without this a
   pipeline whose frames keep being replaced would never win a tie against an equal one.
7. Deadline protection: an idle lane does not start a job whose expected run time would make
   the next frame of a *higher-class* periodic pipeline on that lane miss its deadline (that
   frame is due at its last release + period, and must start by its deadline minus its own
   expected run time). It takes the next waiting job that does fit, or stays idle until the
   protected frame arrives. Expected run times start from the pipeline's estimate (the runtime
   warms each engine up) and are learned from completions (an exponentially weighted mean, a
   sample counted at most twice the current estimate, so one run stretched by a stalled
   thread moves it by a fifth of the estimate, while a real slowdown still doubles it per
   frame); a pipeline with neither is assumed to fit. Protection reserves a *tail*, not the
   mean: the expected run time plus ``TAIL_DEVIATIONS`` mean absolute deviations (learned the
   same way, as TCP's retransmission timer does), both for the job that would start and for
   the protected frame's own run, since a mean-sized reservation is overrun by every slower
   than average run. The protected frame's reservation also holds the tail of what its
   frames spend beyond the run before their output is out (handing over, noticing the end,
   decoding, publishing: :meth:`Scheduler.learn_overhead`), since its deadline is met at the
   output, not at the end of the run. A best-effort job that
   never fits never runs: its frames are dropped and counted, which is what best effort means.
   A reservation expires once its latest start has passed with no frame: the protected
   pipeline has stalled (a camera stopped), its frame could no longer be served in time, and
   lower classes must not wait on a frame that is not coming. New clocks (a power-mode switch)
   replace the learned run times with the caller's new estimates, since stale ones
   under-protect right after a down-shift.
8. The core is told the time; it never reads a clock, sleeps, starts a thread or touches a
   device. The same code runs on the wall clock and on a simulated one.
9. Drop before run: a waiting job that can no longer meet its deadline (now plus its
   pipeline's expected run time is past it) is dropped before it takes a lane
   (:meth:`Scheduler.expire`, which the caller runs before each decision): its output would be
   late whatever happens, and running it would only delay the frames behind it. It is counted
   apart from replaced frames. A pipeline with no deadline, or no run-time estimate yet, is
   never dropped this way. After ``PROBE_AFTER`` such drops in a row, the next frame runs
   anyway, as a probe: an estimate is only learned from completions, so without it one slow
   run that pushed the estimate past the deadline would lock the pipeline out for good. A
   probe still waits for a lane like any frame (rules 5 and 7); replaced before it ran, it
   counts as tried, and the streak starts again.
10. Deadline-bounded batching: pipelines that share one engine on one lane (several cameras
    into one detector: the same ``batch_group``) may run together as one batch. When a lane
    takes a job of such a pipeline, it adds the other group members' waiting head jobs, most
    urgent first (rule 5's key), while the batch size is one the engine was built for
    (``batch_sizes``), the batch's expected run time at that size still meets the earliest
    deadline in it, and rule 7 still holds for every member. The batch runs as one job (the
    first one, the *lead*, holds the lane; the others are its ``companions``) and completes
    together. A batch's run time teaches no pipeline's single-frame estimate; per-size run
    times are the caller's (:meth:`Scheduler.set_batch_costs`, from its cost model).
11. Quiet runs on the host's cores: a lane that runs on the host CPU (``add_lane(...,
    host_cpu=True)``: onnxruntime's CPU provider, whose intra-op threads take every core)
    shares its cores with the caller's own per-frame work, preprocessing above all. A
    lower-class frame's host work started while a higher-class job runs there takes a core
    from it, and an intra-op thread that loses its core stalls the whole run: measured on two
    cores, a critical SSD run of 9 ms took 17 ms beside one 4 ms preprocessing, and its frame
    missed. So while such a job runs, frames of lower classes defer their host work
    (:meth:`Scheduler.defer_host_work`) until they are dispatched; higher and equal classes
    never wait for it (their own preprocessing is part of the load the protected job's learned
    tail already holds).

12. Length-aware batching of one pipeline's sequences: a text pipeline (``sequence_batching``
    set; commands, transcripts) may run several of *its own* waiting jobs as one batch, since
    every job counts (none is stale because a newer one came) and a sequence model's run time
    grows with the batch's padded size, batch x its longest member (``Job.length``, in tokens).
    The lead is chosen as in rule 5; under ``by_length`` the other waiting jobs are taken in
    order of how much they would lengthen the batch (those no longer than the batch first, by
    urgency), and one joins only when (a) the batch size is one the engine serves, (b) the
    batch's expected run time at its padded length (:meth:`Scheduler.set_sequence_costs`,
    interpolated between profiled lengths) still meets every member's deadline and rule 7,
    and (c) the batch's padded tokens stay within ``max_padding`` of all it feeds; of the
    batches so formed, the one with the lowest expected run time per member is
    taken (the longest of equals). So a long command joins a short batch only when it makes
    the batch cheaper per command, which re-padding every member to its length almost never
    does; the longest command waits for a batch of its own length instead. (A first form
    compared each job's added run time with its share of an ideal batch of its own length:
    on a CPU, where a batch costs close to batch x one, measured noise put half the joins
    above that share, batches of 1 to 3 ran under load, and a queue that fell behind never
    caught up.) Under ``pad_to_max`` (the baseline: a fixed-shape engine or server) jobs join
    oldest first and every batch is priced and padded at ``max_length``; ``none`` never
    batches. Outputs of such a pipeline may leave out of capture order (a later short command
    may finish before an earlier long one); each carries its own index and stamp.

Job states and their legal transitions are the table ``TRANSITIONS``; an illegal event raises
:class:`SchedulerError` and changes nothing.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class JobState(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    DROPPED = "dropped"


class Event(enum.Enum):
    DISPATCH = "dispatch"
    COMPLETE = "complete"
    DROP = "drop"


TRANSITIONS: dict[tuple[JobState, Event], JobState] = {
    (JobState.WAITING, Event.DISPATCH): JobState.RUNNING,
    (JobState.WAITING, Event.DROP): JobState.DROPPED,
    (JobState.RUNNING, Event.COMPLETE): JobState.DONE,
}


class SchedulerError(RuntimeError):
    """An event the rules do not allow (a bug in the caller, not a user mistake)."""


@dataclass
class Job:
    """One frame of one pipeline on its way through an engine."""

    pipeline: str
    frame_index: int
    lane: str
    priority: int
    release: float
    deadline: float | None
    seq: int
    payload: Any = None
    state: JobState = JobState.WAITING
    started: float | None = None
    finished: float | None = None
    #: Ordering deadline and sequence (rule 6): inherited from replaced frames.
    urgency: tuple[float, int] | None = None
    #: The other jobs running in this job's batch (rules 10 and 12; empty: it runs alone).
    companions: tuple[Job, ...] = ()
    #: The job's sequence length in tokens (rule 12; 0 for frames).
    length: int = 0

    @property
    def padded_length(self) -> int:
        """What every member of this job's batch is padded to: its longest member."""
        return max((m.length for m in (self, *self.companions)), default=0)

    @property
    def batch_size(self) -> int:
        return 1 + len(self.companions)

    @property
    def key(self) -> tuple[int, float, int]:
        if self.urgency is not None:
            return (self.priority, *self.urgency)
        return (self.priority, self.deadline if self.deadline is not None else math.inf,
                self.seq)

    def apply(self, event: Event) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise SchedulerError(f"{event.value} is not allowed for a {self.state.value} job "
                                 f"({self.pipeline} frame {self.frame_index})") from None


@dataclass(frozen=True)
class PipelineSpec:
    """What the policy knows of a pipeline."""

    name: str
    lane: str
    priority: int
    deadline_s: float | None
    queue_depth: int = 1
    period_s: float | None = None
    expected_run_s: float | None = None
    #: Pipelines of one group share an engine on one lane and may be batched (rule 10).
    batch_group: str | None = None
    #: Batch sizes that engine was built for.
    batch_sizes: tuple[int, ...] = (1,)
    #: A tail of the run time (e.g. a measured p95), seeding rule 7's deviation; None: the
    #: deviation starts from nothing and is learned.
    expected_tail_s: float | None = None
    #: Rule 12: ``by_length`` or ``pad_to_max`` for a text pipeline batching its own
    #: sequences; None otherwise.
    sequence_batching: str | None = None
    #: Rule 12: the longest sequence the engine takes (what ``pad_to_max`` pads to).
    max_length: int = 0
    #: Rule 12 (``by_length``): the largest share of padded tokens one batch may have.
    max_padding: float = 1.0


#: Weight of the newest run time in the expected run time (rule 7).
ESTIMATE_WEIGHT = 0.2
#: A completion counts at most this many times the current estimate (rule 7).
ESTIMATE_CLIP = 2.0
#: Late drops in a row after which the next frame runs as a probe (rule 9).
PROBE_AFTER = 8
#: Mean absolute deviations above the mean that deadline protection reserves (rule 7).
TAIL_DEVIATIONS = 2.0


@dataclass
class _PipelineState:
    spec: PipelineSpec
    waiting: deque[Job] = field(default_factory=deque)
    running: Job | None = None
    last_release: float | None = None
    expected_run_s: float | None = None
    #: Frames dropped late in a row (rule 9).
    late_streak: int = 0
    #: Mean absolute deviation of the run time from ``expected_run_s`` (rule 7's tail).
    deviation_s: float = 0.0
    #: What a frame spends on top of its run, from its start to its output (handing it to
    #: the lane, noticing its end, decoding, publishing): learned mean and deviation.
    overhead_s: float = 0.0
    overhead_deviation_s: float = 0.0

    def learn(self, run_s: float) -> None:
        if self.expected_run_s is None:
            self.expected_run_s = run_s
        else:
            sample = min(run_s, ESTIMATE_CLIP * self.expected_run_s)
            error = sample - self.expected_run_s
            self.deviation_s += ESTIMATE_WEIGHT * (abs(error) - self.deviation_s)
            self.expected_run_s += ESTIMATE_WEIGHT * error

    def learn_overhead(self, seconds: float) -> None:
        error = max(seconds, 0.0) - self.overhead_s
        self.overhead_deviation_s += ESTIMATE_WEIGHT * (abs(error) - self.overhead_deviation_s)
        self.overhead_s += ESTIMATE_WEIGHT * error

    @property
    def overhead_tail_s(self) -> float:
        """The overhead deadline protection reserves after a run (rule 7)."""
        return self.overhead_s + TAIL_DEVIATIONS * self.overhead_deviation_s

    def reset(self, estimate: float, tail: float | None = None) -> None:
        """New clocks: a new mean; the deviation is the given tail's, else scales with it."""
        if tail is not None:
            self.deviation_s = max(tail - estimate, 0.0) / TAIL_DEVIATIONS
        elif self.expected_run_s:
            self.deviation_s *= estimate / self.expected_run_s
        self.expected_run_s = estimate

    @property
    def tail_s(self) -> float:
        """What deadline protection reserves for a run of this pipeline (rule 7)."""
        return (self.expected_run_s or 0.0) + TAIL_DEVIATIONS * self.deviation_s

    def latest_start(self, now: float) -> float | None:
        """When this pipeline's next frame must start to meet its deadline (rule 7), if it is
        periodic, has a deadline, has no frame waiting or running now, and that moment has not
        already passed (an expired reservation protects nothing)."""
        spec = self.spec
        if (spec.period_s is None or spec.deadline_s is None or self.last_release is None
                or self.waiting or self.running is not None):
            return None
        latest = self.last_release + spec.period_s + spec.deadline_s - self.tail_s \
            - self.overhead_tail_s
        return latest if latest >= now else None


class SequenceCosts:
    """Run time per (batch size, padded length) of a sequence engine (rule 12): the profiled
    points, linearly interpolated along the length for one batch size (a longer length than
    profiled takes the last slope; a batch size without figures has none)."""

    def __init__(self, run_s: dict[tuple[int, int], float]) -> None:
        self._by_size: dict[int, list[tuple[int, float]]] = {}
        for (size, length), seconds in sorted(run_s.items()):
            self._by_size.setdefault(size, []).append((length, seconds))

    def run_s(self, size: int, length: int) -> float | None:
        points = self._by_size.get(size)
        if not points:
            return None
        if length <= points[0][0] or len(points) == 1:
            return points[0][1] if length <= points[0][0] else \
                points[0][1] * length / max(points[0][0], 1)
        for (low, low_s), (high, high_s) in itertools.pairwise(points):
            if length <= high:
                return low_s + (high_s - low_s) * (length - low) / (high - low)
        (low, low_s), (high, high_s) = points[-2], points[-1]
        return high_s + (high_s - low_s) * (length - high) / (high - low)


@dataclass(frozen=True)
class Submitted:
    """Result of :meth:`Scheduler.submit`: the new job and any job it displaced."""

    job: Job
    dropped: tuple[Job, ...]


class Scheduler:
    """The decision core (see the module rules)."""

    def __init__(self, lanes: Iterable[str]) -> None:
        self._lanes: dict[str, Job | None] = dict.fromkeys(lanes)
        self._host_lanes: set[str] = set()
        self._pipelines: dict[str, _PipelineState] = {}
        self._seq = itertools.count()
        self._batch_costs: dict[str, dict[int, float]] = {}
        self._sequence_costs: dict[str, SequenceCosts] = {}

    # --- configuration ---------------------------------------------------------------------

    def add_pipeline(self, spec: PipelineSpec) -> None:
        if spec.name in self._pipelines:
            raise SchedulerError(f"pipeline {spec.name} is already registered")
        if spec.lane not in self._lanes:
            raise SchedulerError(f"pipeline {spec.name} needs lane {spec.lane}, which this "
                                 f"scheduler does not have ({sorted(self._lanes)})")
        if spec.queue_depth < 1:
            raise SchedulerError("queue_depth must be at least 1")
        state = _PipelineState(spec)
        if spec.expected_run_s is not None:
            state.reset(spec.expected_run_s, spec.expected_tail_s)
        self._pipelines[spec.name] = state

    def update_pipeline(self, spec: PipelineSpec) -> tuple[Job, ...]:
        """Replace a pipeline's contract (new rate, new engine after a reload). A running job
        finishes where it runs; waiting jobs were prepared for the old contract and are
        dropped (returned, so the caller counts them)."""
        state = self._state(spec.name)
        if spec.lane not in self._lanes:
            raise SchedulerError(f"pipeline {spec.name} needs lane {spec.lane}, which this "
                                 f"scheduler does not have ({sorted(self._lanes)})")
        dropped = self.drop_waiting(spec.name) if spec.lane != state.spec.lane or \
            spec.queue_depth < len(state.waiting) else ()
        state.spec = spec
        if spec.expected_run_s is not None:
            state.reset(spec.expected_run_s, spec.expected_tail_s)
        return dropped

    def remove_pipeline(self, name: str) -> tuple[Job, ...]:
        """Forget a pipeline that has no running job; its waiting jobs are dropped."""
        state = self._state(name)
        if state.running is not None:
            raise SchedulerError(f"pipeline {name} has a job running; remove it once done")
        dropped = self.drop_waiting(name)
        del self._pipelines[name]
        return dropped

    def drop_waiting(self, name: str) -> tuple[Job, ...]:
        """Drop every waiting job of a pipeline (it was disabled or reconfigured)."""
        state = self._state(name)
        dropped = tuple(state.waiting)
        for job in dropped:
            job.apply(Event.DROP)
        state.waiting.clear()
        return dropped

    def pause_protection(self, name: str) -> None:
        """The pipeline will submit nothing for now (disabled, failed): release its
        deadline-protection reservation at once instead of letting it expire."""
        self._state(name).last_release = None

    def reset_estimates(self, estimates: dict[str, float | None],
                        tails: dict[str, float] | None = None) -> None:
        """New clocks: replace learned run times with the caller's estimates for them (rule
        7), and their tails where it has them. A pipeline given None keeps what it has."""
        for name, estimate in estimates.items():
            if estimate is not None:
                self._state(name).reset(estimate, (tails or {}).get(name))

    def set_batch_costs(self, group: str, run_s: dict[int, float]) -> None:
        """Expected run time of ``group``'s engine per batch size (rule 10), for the current
        clocks; sizes without a figure are never formed."""
        self._batch_costs[group] = dict(run_s)

    def set_sequence_costs(self, pipeline: str, run_s: dict[tuple[int, int], float]) -> None:
        """Expected run time of a text pipeline's engine per (batch size, padded length)
        (rule 12), for the current clocks; lengths in between are interpolated."""
        self._sequence_costs[pipeline] = SequenceCosts(run_s)

    def wake_time(self, now: float) -> float | None:
        """When a job that deadline protection holds back on an idle lane may become eligible
        (the earliest reservation in its way expires), so the caller decides again then rather
        than at the next unrelated event. None when nothing is held back."""
        times = []
        for state in self._pipelines.values():
            lane = state.spec.lane
            if state.waiting and state.running is None and self._lanes[lane] is None:
                times += self._protected(lane, state.spec.priority, now)
        return min(times) + 1e-9 if times else None

    def add_lane(self, lane: str, host_cpu: bool = False) -> None:
        """Add ``lane``; ``host_cpu``: it runs on the host's own cores (rule 11)."""
        self._lanes.setdefault(lane, None)
        if host_cpu:
            self._host_lanes.add(lane)

    def defer_host_work(self, pipeline: str) -> bool:
        """Should a frame of ``pipeline`` arriving now leave its host work (preprocessing)
        until it is dispatched? True while a job of a higher class runs on a host-CPU lane
        (rule 11)."""
        priority = self._state(pipeline).spec.priority
        return any(job is not None and job.priority < priority
                   for lane, job in self._lanes.items() if lane in self._host_lanes)

    def likely_to_run(self, pipeline: str, now: float) -> bool:
        """Would a frame of ``pipeline`` submitted now probably start before newer frames
        replace it? The caller prepares a frame's input only then (work on a frame that will be
        dropped is wasted) and otherwise at dispatch. Always true for a pipeline that is not
        periodic. An estimate, from the expected run times: it never changes a decision."""
        state = self._state(pipeline)
        spec = state.spec
        if spec.period_s is None:
            return True
        replaced_by = now + spec.period_s * spec.queue_depth
        start = now
        running = self._lanes[spec.lane]
        if running is not None and running.started is not None:
            owner = self._pipelines.get(running.pipeline)
            start = max(start, running.started + (owner.expected_run_s or 0.0 if owner else 0.0))
        ahead = min(len(state.waiting), spec.queue_depth - 1)
        start += ahead * (state.expected_run_s or 0.0)
        return start <= replaced_by

    @property
    def pipelines(self) -> list[str]:
        return list(self._pipelines)

    @property
    def lanes(self) -> list[str]:
        return list(self._lanes)

    # --- events ----------------------------------------------------------------------------

    def submit(self, pipeline: str, frame_index: int, release: float, now: float,
               payload: Any = None, length: int = 0) -> Submitted:
        """A frame captured at ``release`` is ready for ``pipeline`` at ``now`` (``length``:
        a sequence's tokens, rule 12)."""
        state = self._state(pipeline)
        spec = state.spec
        deadline = release + spec.deadline_s if spec.deadline_s is not None else None
        job = Job(pipeline, frame_index, spec.lane, spec.priority, release, deadline,
                  next(self._seq), payload, length=length)
        dropped: list[Job] = []
        while len(state.waiting) >= spec.queue_depth:
            stale = state.waiting.popleft()
            stale.apply(Event.DROP)
            stale.finished = now
            dropped.append(stale)
        if dropped:
            oldest = dropped[0].key
            job.urgency = (oldest[1], oldest[2])
            state.late_streak = 0  # a probe (rule 9) that was never taken counts as tried
        state.waiting.append(job)
        state.last_release = release if state.last_release is None \
            else max(state.last_release, release)
        return Submitted(job, tuple(dropped))

    def expire(self, now: float) -> list[Job]:
        """Drop every waiting job that can no longer meet its deadline (rule 9); returns them
        (now DROPPED), so the caller counts them as late, not as replaced."""
        late: list[Job] = []
        for state in self._pipelines.values():
            if state.expected_run_s is None:
                continue
            run_s = state.expected_run_s + state.overhead_s
            while state.waiting and state.waiting[0].deadline is not None \
                    and now + run_s > state.waiting[0].deadline \
                    and state.late_streak < PROBE_AFTER:
                job = state.waiting.popleft()
                job.apply(Event.DROP)
                job.finished = now
                late.append(job)
                state.late_streak += 1
        return late

    def decide(self, now: float) -> list[Job]:
        """Start jobs on idle lanes; returns the jobs dispatched (now RUNNING)."""
        ready: dict[str, list[tuple[tuple[int, float, int], Job]]] = {}
        for state in self._pipelines.values():
            if state.running is None and state.waiting:
                head = state.waiting[0]
                ready.setdefault(head.lane, []).append((head.key, head))
        dispatched = []
        for lane, candidates in ready.items():
            if self._lanes[lane] is not None:
                continue
            chosen = self._first_that_fits(lane, sorted(candidates, key=lambda c: c[0]), now)
            if chosen is None:
                continue
            job = chosen
            sequences = self._pipelines[job.pipeline].spec.sequence_batching
            job.companions = self._sequence_companions(job, lane, now) if sequences \
                else self._companions(job, lane, candidates, now)
            for member in (job, *job.companions):
                state = self._pipelines[member.pipeline]
                state.waiting.remove(member)
                member.apply(Event.DISPATCH)
                member.started = now
                if state.running is None:  # the lead, for its own pipeline's companions
                    state.running = member
                state.late_streak = 0
            self._lanes[lane] = job
            dispatched.append(job)
        return dispatched

    def _companions(self, lead: Job, lane: str,
                    candidates: list[tuple[tuple[int, float, int], Job]],
                    now: float) -> tuple[Job, ...]:
        """The jobs that join ``lead``'s batch (rule 10)."""
        spec = self._pipelines[lead.pipeline].spec
        costs = self._batch_costs.get(spec.batch_group or "", {})
        if spec.batch_group is None or len(spec.batch_sizes) < 2 or not costs:
            return ()
        members = [lead]
        earliest = lead.deadline if lead.deadline is not None else math.inf
        for _, job in sorted(candidates, key=lambda c: c[0]):
            if job is lead or self._pipelines[job.pipeline].spec.batch_group != spec.batch_group:
                continue
            size = len(members) + 1
            run_s = costs.get(size)
            if size not in spec.batch_sizes or run_s is None:
                break
            deadline = min(earliest, job.deadline if job.deadline is not None else math.inf)
            if now + run_s > deadline or not all(
                    now + run_s <= latest for member in (*members, job)
                    for latest in self._protected(lane, member.priority, now)):
                break
            members.append(job)
            earliest = deadline
        return tuple(members[1:])

    def _sequence_companions(self, lead: Job, lane: str, now: float) -> tuple[Job, ...]:
        """The pipeline's own waiting jobs that join ``lead``'s batch (rule 12)."""
        state = self._pipelines[lead.pipeline]
        spec = state.spec
        costs = self._sequence_costs.get(spec.name)
        policy = spec.sequence_batching
        if costs is None or policy not in ("by_length", "pad_to_max") or len(state.waiting) < 2:
            return ()
        fixed = spec.max_length if policy == "pad_to_max" else None
        others = sorted((j for j in state.waiting if j is not lead), key=lambda j: j.key)
        if fixed is None:
            others.sort(key=lambda j: max(j.length - lead.length, 0))  # stable: urgency next
        members = [lead]
        longest = fixed or lead.length
        current = costs.run_s(1, longest)
        earliest = lead.deadline if lead.deadline is not None else math.inf
        protected = self._protected(lane, lead.priority, now)
        finish = state.overhead_s
        per_member = [current] if current is not None else [math.inf]
        tokens = lead.length
        for job in others:
            size = len(members) + 1
            if size not in spec.batch_sizes:
                break
            padded = fixed or max(longest, job.length)
            if fixed is None and 1.0 - (tokens + job.length) / (size * padded) > spec.max_padding:
                continue
            run_s = costs.run_s(size, padded)
            deadline = min(earliest, job.deadline if job.deadline is not None else math.inf)
            if run_s is None or current is None or now + run_s + finish > deadline \
                    or any(now + run_s > latest for latest in protected):
                if fixed is not None:
                    break
                continue
            members.append(job)
            longest, current, earliest = padded, run_s, deadline
            tokens += job.length
            per_member.append(run_s / len(members))
        if fixed is None:  # the cheapest batch per member, the longest of equals
            size = min(range(len(members)), key=lambda k: (per_member[k], -k)) + 1
            members = members[:size]
        return tuple(members[1:])

    def _first_that_fits(self, lane: str, candidates: list[tuple[tuple[int, float, int], Job]],
                         now: float) -> Job | None:
        """The best candidate that does not endanger a higher class's next frame (rule 7)."""
        for _, job in candidates:
            run_s = self._pipelines[job.pipeline].tail_s
            if all(now + run_s <= latest for latest in self._protected(lane, job.priority, now)):
                return job
        return None

    def _protected(self, lane: str, priority: int, now: float) -> list[float]:
        latest = []
        for state in self._pipelines.values():
            if state.spec.lane == lane and state.spec.priority < priority:
                start_by = state.latest_start(now)
                if start_by is not None:
                    latest.append(start_by)
        return latest

    def complete(self, job: Job, now: float, run_s: float | None = None) -> None:
        """``job`` finished on its lane at ``now``; ``run_s``, when the caller measured it on
        the lane (the engine's own device time), is what it learns from instead of the time
        since dispatch, which also holds however long the caller took to notice."""
        if self._lanes.get(job.lane) is not job:
            raise SchedulerError(f"{job.pipeline} frame {job.frame_index} is not running on "
                                 f"{job.lane}")
        self._lanes[job.lane] = None
        for member in (job, *job.companions):
            member.apply(Event.COMPLETE)
            member.finished = now
            state = self._pipelines[member.pipeline]
            if state.running is member:
                state.running = None
        if job.started is not None and not job.companions:
            self._pipelines[job.pipeline].learn(run_s if run_s is not None
                                                else now - job.started)

    def detach(self, lead: Job, companion: Job, now: float) -> None:
        """Take ``companion`` out of ``lead``'s batch before it runs (its input could not be
        prepared): it completes now, with no output; the batch runs without it."""
        if companion not in lead.companions:
            raise SchedulerError(f"{companion.pipeline} frame {companion.frame_index} is not "
                                 f"in {lead.pipeline}'s batch")
        lead.companions = tuple(c for c in lead.companions if c is not companion)
        companion.apply(Event.COMPLETE)
        companion.finished = now
        state = self._pipelines[companion.pipeline]
        if state.running is companion:
            state.running = None

    # --- queries ---------------------------------------------------------------------------

    def waiting(self, pipeline: str) -> int:
        return len(self._state(pipeline).waiting)

    def running(self, lane: str) -> Job | None:
        return self._lanes[lane]

    def expected_run_s(self, pipeline: str) -> float | None:
        return self._state(pipeline).expected_run_s

    def learn_overhead(self, pipeline: str, seconds: float) -> None:
        """A frame of ``pipeline`` reached its output ``seconds`` after its run ended on the
        lane's own clock, counting from its start: what protection reserves on top of the
        run (rule 7) and drop-before-run adds to it (rule 9). Unknown pipelines (removed
        since) are ignored."""
        state = self._pipelines.get(pipeline)
        if state is not None:
            state.learn_overhead(seconds)

    def _state(self, pipeline: str) -> _PipelineState:
        try:
            return self._pipelines[pipeline]
        except KeyError:
            raise SchedulerError(f"unknown pipeline {pipeline}") from None
