"""Admission and degradation (``scheduler.planner``), with plain numbers for run times."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_runtime.errors import UserError
from edge_runtime.scheduler.planner import (
    Demand,
    InfeasibleError,
    Option,
    Plan,
    plan,
)

CRITICAL, HIGH, NORMAL, BEST_EFFORT = range(4)
LANES = ("gpu", "dla0")


def demand(name: str, priority: int, rate: float, *options: Option,
           deadline_s: float | None = None, min_rate: float | None = None) -> Demand:
    return Demand(name, priority, rate,
                  min_rate if min_rate is not None else (rate if priority == CRITICAL
                                                          else rate / 4),
                  deadline_s if deadline_s is not None else 1.0 / rate, options)


def gpu(run_s: float, name: str = "fp16") -> Option:
    return Option(name, "gpu", run_s)


def front(run_s: float = 0.002) -> Demand:
    return demand("front", CRITICAL, 30, gpu(run_s), deadline_s=0.033)


def test_a_set_that_fits_is_granted_what_it_asks() -> None:
    result = plan("40W", [front(), demand("rear", BEST_EFFORT, 10, gpu(0.020))], LANES)
    assert result.fits
    assert {g.rate_hz for g in result.grants.values()} == {30, 10}
    assert not any(g.reason or g.paused for g in result.grants.values())
    assert result.lanes["gpu"].utilisation == pytest.approx(0.002 * 30 + 0.020 * 10)


def test_the_lowest_class_moves_first_to_a_variant_that_fits() -> None:
    # 91 ms on the GPU never fits between critical frames (33 ms apart): the rear moves
    rear = demand("rear", BEST_EFFORT, 10, gpu(0.091), Option("int8", "dla0", 0.047))
    side = demand("side", HIGH, 15, gpu(0.004), Option("side_dla", "dla0", 0.010))
    result = plan("15W", [front(), side, rear], LANES)
    assert result.fits
    assert (result.grants["rear"].lane, result.grants["rear"].variant) == ("dla0", "int8")
    assert result.grants["side"].lane == "gpu" and result.grants["side"].reason is None
    reason = result.grants["rear"].reason
    assert reason is not None and "moved" in reason


def test_it_slows_before_it_pauses_and_never_below_the_floor() -> None:
    # the GPU is 130 % busy: the best-effort pipeline gives rate, down to what fits
    busy = demand("busy", BEST_EFFORT, 40, gpu(0.020), deadline_s=0.5)
    result = plan("15W", [front(0.010), busy], ("gpu",))
    grant = result.grants["busy"]
    assert result.fits and not grant.paused
    assert grant.rate_hz is not None and 10 <= grant.rate_hz < 40
    assert grant.rate_hz * 0.020 + 30 * 0.010 <= 1.0
    assert grant.rate_hz * 0.020 + 30 * 0.010 > 0.98  # the highest rate that fits
    assert grant.reason is not None and "slowed from 40 Hz" in grant.reason


def test_it_pauses_when_the_floor_does_not_fit() -> None:
    busy = demand("busy", BEST_EFFORT, 40, gpu(0.020), deadline_s=0.5, min_rate=39)
    result = plan("15W", [front(0.010), busy], ("gpu",))
    assert result.fits and result.grants["busy"].paused
    assert result.grants["busy"].rate_hz is None
    assert "paused" in (result.grants["busy"].reason or "")


def test_degradation_goes_by_class_lowest_first() -> None:
    high = demand("high", HIGH, 20, gpu(0.015), deadline_s=0.5)
    normal = demand("normal", NORMAL, 20, gpu(0.015), deadline_s=0.5)
    low = demand("low", BEST_EFFORT, 20, gpu(0.015), deadline_s=0.5)
    # 0.3 + 3 x 0.3 = 1.2: giving the best-effort one alone is enough
    result = plan("15W", [front(0.010), high, normal, low], ("gpu",))
    assert result.fits
    assert result.grants["low"].reason is not None
    assert result.grants["high"].reason is None and result.grants["normal"].reason is None


def test_a_critical_set_that_cannot_fit_fails_loudly_with_the_numbers() -> None:
    with pytest.raises(InfeasibleError) as raised:
        plan("15W", [front(0.040), demand("rear", BEST_EFFORT, 10, gpu(0.001))], ("gpu",))
    message = raised.value.message
    assert "15W" in message and "lane gpu" in message and "over by" in message
    assert "front" in message
    assert isinstance(raised.value, UserError)  # one line, exit 2, at the CLI
    assert raised.value.plan.fits is False and "front" in raised.value.plan.lanes["gpu"].why


def test_a_critical_pipeline_may_move_but_is_never_paused() -> None:
    moving = demand("front", CRITICAL, 30, gpu(0.040), Option("dla", "dla0", 0.020),
                    deadline_s=0.033)
    result = plan("15W", [moving], LANES)
    assert result.grants["front"].lane == "dla0" and not result.grants["front"].paused


def test_a_lower_class_blocks_only_for_its_tail_beyond_the_expected_time() -> None:
    # protection holds a lower job back by its mean (20 ms, which fits the 46 ms gap); a
    # 25 ms tail beyond it can still make the critical frame wait: 10 + 25 > 33 ms
    tail = demand("rear", BEST_EFFORT, 5, Option("fp16", "gpu", 0.045, mean_s=0.020))
    checked = plan("40W", [front(0.010), tail], ("gpu",))
    assert checked.grants["rear"].reason is not None
    assert "front needs 35.0 ms" in checked.grants["rear"].reason
    steady = demand("rear", BEST_EFFORT, 5, Option("fp16", "gpu", 0.020, mean_s=0.020))
    assert plan("40W", [front(0.010), steady], ("gpu",)).grants["rear"].reason is None


def test_plans_serialise_with_the_keys_hosts_read() -> None:
    result = plan("40W", [front()], LANES)
    data = result.to_dict()
    assert data["fits"] is True and data["mode"] == "40W"
    assert set(data["pipelines"]["front"]) == {"variant", "lane", "rate_hz", "paused", "reason",
                                               "run_ms"}
    assert set(data["lanes"]) == set(LANES)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.floats(2, 60), st.floats(0.0005, 0.05)),
                min_size=1, max_size=6))
def test_every_plan_fits_or_says_why_not(specs: list[tuple[int, float, float]]) -> None:
    """Whatever the set, the planner returns a plan whose lanes pass its own test, or raises
    with the critical pipeline's lane; non-critical pipelines only ever lose rate."""
    demands = [front(0.002)] + [demand(f"p{i}", priority, rate, gpu(run_s))
                                for i, (priority, rate, run_s) in enumerate(specs)]
    try:
        result: Plan = plan("15W", demands, ("gpu",))
    except InfeasibleError:  # pragma: no cover - front alone always fits here
        pytest.fail("the critical pipeline alone fits; the rest must give")
    assert result.fits
    for d in demands:
        grant = result.grants[d.name]
        if not grant.paused:
            assert grant.rate_hz is not None and d.rate_hz is not None
            assert grant.rate_hz <= d.rate_hz + 1e-9
            assert d.min_rate_hz is not None and grant.rate_hz >= d.min_rate_hz - 1e-9
    assert result.grants["front"].reason is None


def test_a_best_effort_pipeline_that_would_starve_moves_if_it_can() -> None:
    # 91 ms never fits the gaps between critical frames, but nothing else suffers from it
    # (protection holds it back): that is its own loss, so it moves where it runs, if it can
    rear = demand("rear", BEST_EFFORT, 5, gpu(0.091), Option("int8", "dla0", 0.047))
    moved = plan("15W", [front(), rear], LANES).grants["rear"]
    assert moved.lane == "dla0" and "would starve" in (moved.reason or "")


def test_a_best_effort_pipeline_short_of_its_own_deadline_runs_as_best_effort() -> None:
    # no variant: it keeps its lane and rate, and the plan says what to expect
    rear = demand("rear", BEST_EFFORT, 5, gpu(0.091))
    result = plan("15W", [front(), rear], LANES)
    grant = result.grants["rear"]
    assert result.fits and (grant.lane, grant.rate_hz, grant.paused) == ("gpu", 5, False)
    assert grant.reason is not None and grant.reason.startswith("best effort at 15W, may miss")
    assert dict(result.lanes["gpu"].soft)["rear"] in grant.reason


def test_a_shed_plan_pauses_best_effort_and_floors_the_rest_but_never_touches_critical() -> None:
    demands = [front(), demand("side", HIGH, 20, gpu(0.004)),
               demand("map", NORMAL, 8, gpu(0.004), min_rate=8),
               demand("rear", BEST_EFFORT, 10, gpu(0.020))]
    asked = plan("40W", demands, LANES)
    assert not any(g.reason for g in asked.grants.values())
    shed = plan("40W", demands, LANES, shed="power 24.0 W over the 20 W budget")
    grants = shed.grants
    assert (grants["front"].rate_hz, grants["front"].paused, grants["front"].reason) == \
        (30, False, None)
    assert grants["side"].rate_hz == 5 and grants["side"].reason == \
        "slowed to 5 Hz at 40W: power 24.0 W over the 20 W budget"
    assert grants["map"].rate_hz == 8 and grants["map"].reason is None  # at its floor already
    assert grants["rear"].paused and grants["rear"].reason is not None
    assert shed.lanes["gpu"].utilisation < asked.lanes["gpu"].utilisation
