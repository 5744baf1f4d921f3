"""The cost model: priors until completions measure, per key; and when a plan's figures drift."""

from __future__ import annotations

import pytest

from edge_runtime.scheduler.costs import DRIFT_DOWN, DRIFT_UP, Cost, CostKey, CostModel, drift

KEY = CostKey("detector", "gpu", "40W")
OTHER_MODE = CostKey("detector", "gpu", "15W")


def test_a_key_reads_its_prior_until_enough_completions_measure_it() -> None:
    model = CostModel(lambda key: 0.010 if key.mode == "40W" else None, min_samples=4)
    assert model.cost(KEY) == Cost(0.010, 0.010, 0, "prior")
    for seconds in (0.020, 0.020, 0.020):
        model.observe(KEY, seconds)
    assert model.cost(KEY) == Cost(0.010, 0.010, 3, "prior")
    model.observe(KEY, 0.040)
    measured = model.cost(KEY)
    assert measured is not None and measured.source == "measured"
    assert measured.mean_s == pytest.approx(0.025) and measured.p95_s == pytest.approx(0.040)
    assert model.cost(OTHER_MODE) is None  # no prior there and nothing measured


def test_the_window_forgets_old_completions_and_bad_figures_are_ignored() -> None:
    model = CostModel(lambda key: None, window=4, min_samples=4)
    for seconds in (1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1, float("nan"), -1.0):
        model.observe(KEY, seconds)
    cost = model.cost(KEY)
    assert cost is not None and cost.mean_s == pytest.approx(0.1)
    model.forget("detector")
    assert model.cost(KEY) is None


def _cost(mean_ms: float, p95_ms: float) -> Cost:
    return Cost(mean_ms / 1e3, p95_ms / 1e3, 64, "measured")


def test_figures_within_the_thresholds_are_no_drift() -> None:
    planned = {KEY: _cost(10.0, 12.0)}
    inside = 1 + DRIFT_UP * 0.9
    assert drift(planned, {KEY: _cost(10.0 * inside, 12.0 * inside)}) == []
    assert drift(planned, {KEY: _cost(10.0 * (1 - DRIFT_DOWN * 0.9), 12.0)}) == []
    assert drift(planned, {OTHER_MODE: _cost(100.0, 100.0)}) == []  # nothing to compare


def test_a_grown_tail_or_a_clearly_fallen_mean_is_drift_and_says_which() -> None:
    planned = {KEY: _cost(10.0, 12.0)}
    grown = drift(planned, {KEY: _cost(10.0, 12.0 * (1 + DRIFT_UP * 1.1))})
    assert grown == ["detector@gpu batch 1 p95 14.0 ms, planned with 12.0 ms"]
    fallen = drift(planned, {KEY: _cost(10.0 * (1 - DRIFT_DOWN * 1.1), 12.0)})
    assert fallen == ["detector@gpu batch 1 mean 6.7 ms, planned with 10.0 ms"]
