"""The power governor: shed before stepping down, one step per hold, recovery with hysteresis,
never above the mode it started in; and the budget's choice of mode."""

from __future__ import annotations

import pytest

from edge_runtime.scheduler.governor import (
    Governor,
    GovernorSettings,
    ModeOption,
    Reading,
    Step,
    choose_mode,
)

MODES = ["15W", "30W", "40W"]
BUDGET = GovernorSettings(budget_w=20.0, hold_s=2.0, recover_s=10.0, margin_w=2.0)


def _run(governor: Governor, mode: str, watts: float, start_s: float, seconds: float,
         step_s: float = 0.5) -> tuple[str, list[tuple[float, Step, str | None]]]:
    """Feed a constant reading every ``step_s``; apply mode steps; the mode and what was done."""
    done: list[tuple[float, Step, str | None]] = []
    at = start_s
    while at < start_s + seconds - 1e-9:
        decision = governor.tick(Reading(at, watts, None), mode)
        if decision.step is not Step.HOLD:
            done.append((at, decision.step, decision.mode))
            if decision.mode is not None:
                mode = decision.mode
        at = round(at + step_s, 6)
    return mode, done


def test_over_budget_sheds_first_then_steps_down_once_per_hold() -> None:
    governor = Governor(BUDGET, MODES, "40W")
    mode, done = _run(governor, "40W", 25.0, 0.0, 7.0)
    assert done == [(2.0, Step.SHED, None), (4.0, Step.STEP_DOWN, "30W"),
                    (6.0, Step.STEP_DOWN, "15W")]
    assert mode == "15W" and governor.shedding
    _, more = _run(governor, mode, 25.0, 7.0, 10.0)
    assert more == []  # the lowest mode with load shed: nothing left to do but say so


def test_a_short_excursion_does_nothing() -> None:
    governor = Governor(BUDGET, MODES, "40W")
    _, done = _run(governor, "40W", 25.0, 0.0, 1.5)
    assert done == []
    _, done = _run(governor, "40W", 19.5, 1.5, 5.0)  # back under (inside the margin)
    _, again = _run(governor, "40W", 25.0, 6.5, 1.5)
    assert done == [] and again == []  # the hold restarts after every dip


def test_recovery_waits_out_its_time_under_the_margin_and_climbs_back_in_reverse() -> None:
    governor = Governor(BUDGET, MODES, "30W")
    mode, done = _run(governor, "30W", 25.0, 0.0, 4.5)
    assert [d[1] for d in done] == [Step.SHED, Step.STEP_DOWN] and mode == "15W"
    mode, done = _run(governor, mode, 17.0, 4.5, 40.0)
    assert done == [(14.5, Step.STEP_UP, "30W"), (24.5, Step.RESTORE, None)]
    assert mode == "30W" and not governor.shedding  # never above the mode it started in


def test_inside_the_margin_never_recovers() -> None:
    governor = Governor(BUDGET, MODES, "40W")
    mode, _ = _run(governor, "40W", 25.0, 0.0, 4.5)
    assert mode == "30W"
    _, done = _run(governor, mode, 18.5, 4.5, 60.0)  # under 20 W but not under 20 - 2 W
    assert done == []


def test_temperature_is_a_limit_of_its_own() -> None:
    settings = GovernorSettings(max_temp_c=80.0, hold_s=1.0, recover_s=5.0, margin_c=5.0)
    governor = Governor(settings, MODES, "40W")
    first = governor.tick(Reading(0.0, 35.0, 83.0), "40W")
    shed = governor.tick(Reading(1.0, 35.0, 83.0), "40W")
    assert first.step is Step.HOLD and shed.step is Step.SHED
    assert "temperature 83.0 °C over 80 °C" in shed.reason
    assert governor.tick(Reading(2.0, None, None), "40W").step is Step.HOLD  # unknown: no act
    assert governor.tick(Reading(3.0, 35.0, 76.0), "40W").step is Step.HOLD  # within margin


def test_a_ceiling_outside_the_modes_is_refused() -> None:
    with pytest.raises(ValueError, match="MAXN"):
        Governor(BUDGET, MODES, "MAXN")


def test_the_budget_picks_the_most_throughput_that_fits_it() -> None:
    options = [ModeOption("15W", True, 40.0, 11.0), ModeOption("30W", True, 70.0, 18.5),
               ModeOption("40W", True, 70.0, 19.5), ModeOption("MAXN", True, 90.0, 31.0)]
    mode, why = choose_mode(options, 20.0)
    assert mode == "40W"  # the same frames as 30W, with more headroom, within the budget
    assert "70.0 frames/s at 19.5 W" in why
    assert choose_mode(options, 19.0)[0] == "30W"
    assert choose_mode(options, 40.0)[0] == "MAXN"
    assert choose_mode([*options[:1], ModeOption("30W", False, 0.0, 9.0)], 20.0)[0] == "15W"


def test_a_budget_no_mode_fits_takes_the_lowest_power_and_says_so() -> None:
    options = [ModeOption("15W", False, 0.0, 9.0), ModeOption("30W", True, 50.0, 18.0),
               ModeOption("40W", True, 60.0, 24.0)]
    mode, why = choose_mode(options, 12.0)
    assert mode == "30W" and "no mode fits the 12 W budget" in why
    with pytest.raises(ValueError):
        choose_mode([ModeOption("15W", False, 0.0, 9.0)], 12.0)


def test_a_refused_step_down_is_not_asked_for_again() -> None:
    governor = Governor(BUDGET, MODES, "40W")
    mode, done = _run(governor, "40W", 25.0, 0.0, 4.5)
    assert done[-1] == (4.0, Step.STEP_DOWN, "30W")
    step = governor.tick(Reading(6.0, 25.0, None), mode)
    assert step.step is Step.STEP_DOWN and step.mode == "15W"
    governor.refused(step)  # the critical pipelines do not fit 15W
    _, more = _run(governor, mode, 25.0, 6.5, 20.0)
    assert more == [] and governor.floor == "30W"
