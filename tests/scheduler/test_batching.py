"""Scheduler rule 10, deadline-bounded batching, with plain numbers for time."""

from __future__ import annotations

import pytest

from edge_runtime.scheduler.core import PipelineSpec, Scheduler, SchedulerError

CRITICAL, HIGH, NORMAL, BEST_EFFORT = range(4)
#: Run time of the shared detector per batch size.
COSTS = {1: 0.010, 2: 0.015, 3: 0.020, 4: 0.025}


def cameras(count: int, deadline_s: float = 0.050, sizes: tuple[int, ...] = (1, 2, 3, 4),
            priority: int = HIGH) -> Scheduler:
    scheduler = Scheduler(["gpu"])
    for index in range(count):
        scheduler.add_pipeline(PipelineSpec(f"cam{index}", "gpu", priority, deadline_s,
                                            period_s=0.1, expected_run_s=COSTS[1],
                                            batch_group="detector@gpu", batch_sizes=sizes))
    scheduler.set_batch_costs("detector@gpu", COSTS)
    return scheduler


def submit_all(scheduler: Scheduler, count: int, now: float = 0.0) -> None:
    for index in range(count):
        scheduler.submit(f"cam{index}", 0, release=now, now=now)


def test_frames_of_one_engine_run_as_one_batch_under_slack() -> None:
    s = cameras(3)
    submit_all(s, 3)
    (lead,) = s.decide(now=0.0)
    assert lead.batch_size == 3
    assert {j.pipeline for j in (lead, *lead.companions)} == {"cam0", "cam1", "cam2"}
    assert s.running("gpu") is lead
    s.complete(lead, now=COSTS[3])
    assert all(j.finished == COSTS[3] for j in (lead, *lead.companions))
    assert [s.waiting(f"cam{i}") for i in range(3)] == [0, 0, 0]
    assert s.decide(now=COSTS[3]) == []


def test_a_batch_never_grows_past_the_earliest_deadline_in_it() -> None:
    # 18 ms of deadline: a batch of 2 (15 ms) meets it, a batch of 3 (20 ms) would not
    s = cameras(3, deadline_s=0.018)
    submit_all(s, 3)
    (lead,) = s.decide(now=0.0)
    assert lead.batch_size == 2


def test_only_batch_sizes_the_engine_was_built_for() -> None:
    s = cameras(4, sizes=(1, 2))
    submit_all(s, 4)
    (lead,) = s.decide(now=0.0)
    assert lead.batch_size == 2


def test_the_most_urgent_frames_join_first() -> None:
    s = cameras(3, sizes=(1, 2))
    s.submit("cam0", 0, release=0.004, now=0.004)
    s.submit("cam1", 0, release=0.000, now=0.004)  # the earliest deadline
    s.submit("cam2", 0, release=0.002, now=0.004)
    (lead,) = s.decide(now=0.004)
    assert [lead.pipeline, *(c.pipeline for c in lead.companions)] == ["cam1", "cam2"]


def test_a_batch_respects_deadline_protection_of_a_higher_class() -> None:
    s = cameras(2)
    # a critical 30 Hz pipeline on the same lane: its frame released at -21.3 ms ran, so the
    # next one (due at 12 ms, 20 ms deadline, 20 ms run) must start by 12 ms
    s.add_pipeline(PipelineSpec("front", "gpu", CRITICAL, 0.020, period_s=1 / 30,
                                expected_run_s=0.020))
    released = 0.012 - 1 / 30
    s.submit("front", 0, release=released, now=released)
    (front,) = s.decide(now=released)
    s.complete(front, now=released + 0.020)
    submit_all(s, 2)
    # alone (10 ms) a camera fits before the front frame's latest start; a batch (15 ms) not
    (lead,) = s.decide(now=0.0)
    assert lead.batch_size == 1


def test_unrelated_engines_are_never_batched() -> None:
    s = cameras(1)
    s.add_pipeline(PipelineSpec("other", "gpu", HIGH, 0.05, period_s=0.1, expected_run_s=0.01,
                                batch_group="classifier@gpu", batch_sizes=(1, 2)))
    s.submit("cam0", 0, release=0.0, now=0.0)
    s.submit("other", 0, release=0.0, now=0.0)
    (lead,) = s.decide(now=0.0)
    assert lead.batch_size == 1


def test_a_batch_teaches_no_single_frame_estimate() -> None:
    s = cameras(2)
    submit_all(s, 2)
    (lead,) = s.decide(now=0.0)
    s.complete(lead, now=0.015)
    assert s.expected_run_s("cam0") == pytest.approx(COSTS[1])


def test_a_member_whose_input_failed_leaves_the_batch() -> None:
    s = cameras(3)
    submit_all(s, 3)
    (lead,) = s.decide(now=0.0)
    gone = lead.companions[0]
    s.detach(lead, gone, now=0.0)
    assert lead.batch_size == 2 and gone.finished == 0.0
    with pytest.raises(SchedulerError):
        s.detach(lead, gone, now=0.0)
    s.complete(lead, now=0.015)
    assert s.running("gpu") is None
