"""What the planner is told: each pipeline's demand, priced by the cost model in a power mode.

The policy is ``scheduler.planner`` (pure) and the run-time figures are ``scheduler.costs``;
this module is the glue a runtime needs between them and its pipelines: which pipelines are
planned (those taking frames, and those the planner paused, which a better mode may admit
again), what each asks for (``rate_hz``, ``min_rate_hz``, deadline, variants in order of
preference), and the cost model's *prior*: what an engine will take in a mode nothing has run in
yet. On the simulated Jetson that is the device model's prediction; on a real module it is the
warm-up time, scaled by the lane's clock in the mode planned against the mode it was measured
in; an engine on this host's CPU (onnxruntime) does not change speed with the module's mode.

Batching (``scheduler.core`` rule 10): pipelines that share one batchable engine on one lane at
one rate are taken to be triggered together (cameras on one hardware sync, or one driver), so
their frames run as one batch of m; each is planned at its share of that batch's run time,
C(m) / m. Their tests then add up to what the batch costs. Cameras that are not in step batch
less than planned, and the plan command's simulation shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from edge_runtime.config.power import PowerMode, PowerProfile
from edge_runtime.engines.base import BaseRunner
from edge_runtime.runtime.faults import Health
from edge_runtime.runtime.pipeline import Pipeline
from edge_runtime.scheduler.core import SequenceCosts
from edge_runtime.scheduler.costs import CostKey, CostModel
from edge_runtime.scheduler.planner import Demand, Option, Plan, plan

#: States of a pipeline the planner plans for.
PLANNED = (Health.RUNNING, Health.PAUSED)


@dataclass(frozen=True)
class WarmUp:
    """What an engine's warm-up measured, and in which mode."""

    seconds: float
    mode: str
    #: True when the engine's speed follows the module's clocks (a real engine on the
    #: module), False for one on this host's CPU.
    follows_clocks: bool
    #: A sequence engine's profile: seconds per (batch size, padded length), measured at
    #: warm-up (``engine_set.profile_sequences``); empty for other engines.
    sequences: dict[tuple[int, int], float] = field(default_factory=dict)


class EnginePrior:
    """The cost model's prior for the engines of a runtime (module docstring)."""

    def __init__(self, profile: PowerProfile) -> None:
        self.profile = profile
        self._runners: dict[tuple[str, str], BaseRunner] = {}
        self._warmups: dict[tuple[str, str], WarmUp] = {}
        self._sequences: dict[tuple[str, str], SequenceCosts] = {}

    def add(self, runner: BaseRunner, warm_up: WarmUp) -> None:
        self._runners[(runner.name, runner.lane)] = runner
        self._warmups[(runner.name, runner.lane)] = warm_up
        if warm_up.sequences:
            self._sequences[(runner.name, runner.lane)] = SequenceCosts(warm_up.sequences)

    def __call__(self, key: CostKey) -> float | None:
        runner = self._runners.get((key.engine, key.lane))
        if runner is None:
            return None
        mode = self.profile.resolve(key.mode)
        warm = self._warmups[(key.engine, key.lane)]
        sequences = self._sequences.get((key.engine, key.lane))
        if key.length and sequences is not None:
            seconds = sequences.run_s(key.batch, key.length)
            if seconds is None:
                return None
        else:
            predicted = runner.predicted_latency_s(mode, key.batch)
            if predicted is not None:
                return predicted
            seconds = warm.seconds * key.batch
        if not warm.follows_clocks:
            return seconds
        measured_in = self.profile.resolve(warm.mode)
        return seconds * self.profile.lane_clock_hz(measured_in, key.lane) \
            / self.profile.lane_clock_hz(mode, key.lane)


#: (engine, lane, rate) -> pipelines planned to share each of its batches.
BatchShares = Mapping[tuple[str, str, float | None], int]


def batch_shares(pipelines: Iterable[Pipeline]) -> dict[tuple[str, str, float | None], int]:
    """How many pipelines would share each batch of each batchable engine (module docstring),
    capped at the engine's largest batch."""
    members: dict[tuple[str, str, float | None], int] = {}
    largest: dict[tuple[str, str, float | None], int] = {}
    for pipeline in pipelines:
        for runner in pipeline.variants.values():
            if runner.max_batch > 1:
                key = (runner.name, runner.lane, pipeline.wanted_rate_hz)
                members[key] = members.get(key, 0) + 1
                largest[key] = runner.max_batch
    return {key: min(count, largest[key]) for key, count in members.items() if count > 1}


def demand(pipeline: Pipeline, costs: CostModel, mode: PowerMode,
           shares: BatchShares | None = None) -> Demand | None:
    """What ``pipeline`` asks of ``mode``; None when it has no variant the cost model can
    price (nothing can be planned for it: it runs as asked)."""
    options = []
    usable = {n: r for n, r in pipeline.variants.items() if n not in pipeline.down}
    # with every variant down, the plan keeps them: its frames fail and the pipeline's fault
    # policy (backoff, restarts) takes over, with the reason in its status
    for name, runner in (usable or pipeline.variants).items():
        batch = (shares or {}).get((runner.name, runner.lane, pipeline.wanted_rate_hz), 1)
        cost = costs.cost(CostKey(runner.name, runner.lane, mode.label, batch))
        if cost is not None:
            options.append(Option(name, runner.lane, cost.plan_s / batch, cost.mean_s / batch))
    if not options:
        return None
    rate = pipeline.wanted_rate_hz
    return Demand(pipeline.name, pipeline.config.priority.rank, rate,
                  pipeline.config.min_rate_for(rate) if rate else None, pipeline.deadline_s,
                  tuple(options))


def plan_pipelines(pipelines: Mapping[str, Pipeline], costs: CostModel, mode: PowerMode,
                   lanes: Iterable[str], shed: str | None = None) -> Plan:
    """The plan of the pipelines in ``mode`` (raises ``InfeasibleError`` when critical ones
    cannot fit it); with ``shed``, the planner's shed plan (non-critical load shed, why)."""
    planned = [p for p in pipelines.values() if p.health in PLANNED]
    shares = batch_shares(planned)
    demands = [d for p in planned if (d := demand(p, costs, mode, shares)) is not None]
    return plan(mode.label, demands, sorted(lanes), shed)
