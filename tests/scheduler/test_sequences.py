"""Rule 12: length-aware batching of one text pipeline's own sequences, on plain numbers."""

from __future__ import annotations

import pytest

from edge_runtime.scheduler.core import PipelineSpec, Scheduler, SequenceCosts

HIGH, CRITICAL = 1, 0
SIZES = tuple(range(1, 9))


def token_costs(per_token_s: float = 1e-5, fixed_s: float = 1e-3) -> dict[tuple[int, int], float]:
    """A sequence engine whose run time is a launch cost plus one cost per padded token."""
    return {(b, n): fixed_s + per_token_s * b * n for b in SIZES for n in (4, 8, 16, 32, 64)}


def text_scheduler(policy: str, deadline_s: float = 0.150) -> Scheduler:
    scheduler = Scheduler(["cpu"])
    scheduler.add_pipeline(PipelineSpec("commands", "cpu", HIGH, deadline_s, queue_depth=64,
                                        batch_sizes=SIZES, sequence_batching=policy,
                                        max_length=64))
    scheduler.set_sequence_costs("commands", token_costs())
    return scheduler


def submit_lengths(scheduler: Scheduler, lengths: list[int], now: float = 0.0) -> None:
    for index, length in enumerate(lengths):
        scheduler.submit("commands", index, release=now, now=now, length=length)


def batch_of(scheduler: Scheduler, now: float = 0.0) -> list[int]:
    (job,) = scheduler.decide(now)
    return [m.length for m in (job, *job.companions)]


def test_by_length_groups_similar_lengths_and_leaves_the_long_one() -> None:
    s = text_scheduler("by_length")
    submit_lengths(s, [6, 40, 7, 5, 6, 8])
    batch = batch_of(s)
    assert batch[0] == 6  # the lead is the most urgent (oldest)
    assert sorted(batch) == [5, 6, 6, 7, 8]  # the 40-token command waits for its own batch
    assert s.waiting("commands") == 1


def test_pad_to_max_takes_the_oldest_whatever_their_length() -> None:
    s = text_scheduler("pad_to_max")
    submit_lengths(s, [6, 40, 7, 5, 6, 8])
    assert batch_of(s) == [6, 40, 7, 5, 6, 8]


def test_a_batch_never_outgrows_its_deadline() -> None:
    # 1 ms launch + 10 us per token: a batch of 8 x 64 tokens takes 6.1 ms
    s = text_scheduler("pad_to_max", deadline_s=0.004)
    submit_lengths(s, [10] * 8)
    batch = batch_of(s)
    assert 1 < len(batch) < 8
    run_s = SequenceCosts(token_costs()).run_s(len(batch), 64)
    assert run_s is not None and run_s <= 0.004


def test_one_pipeline_keeps_one_lead_running_and_the_rest_completes_with_it() -> None:
    s = text_scheduler("by_length")
    submit_lengths(s, [5, 5, 5])
    (job,) = s.decide(0.0)
    assert job.batch_size == 3 and job.padded_length == 5
    assert s.decide(0.0) == []  # the lane is busy, and the pipeline's batch is the one job
    s.complete(job, 0.002)
    assert all(m.state.value == "done" for m in (job, *job.companions))
    assert s.waiting("commands") == 0


def test_without_costs_or_with_batching_none_each_sequence_runs_alone() -> None:
    for policy in ("none", None):
        s = Scheduler(["cpu"])
        s.add_pipeline(PipelineSpec("commands", "cpu", HIGH, 0.15, queue_depth=8,
                                    batch_sizes=SIZES, sequence_batching=policy))
        s.set_sequence_costs("commands", token_costs())
        submit_lengths(s, [5, 5])
        assert batch_of(s) == [5]


def test_a_higher_class_frame_is_protected_from_a_long_batch() -> None:
    s = text_scheduler("pad_to_max")
    s.add_pipeline(PipelineSpec("camera", "cpu", CRITICAL, 0.010, period_s=0.010,
                                expected_run_s=0.004))
    s.submit("camera", 0, release=0.0, now=0.0)
    (camera,) = s.decide(0.0)
    s.complete(camera, 0.004, 0.004)
    # the next camera frame is due at 10 ms and must start by 10 + 10 - 4 = 16 ms
    submit_lengths(s, [10] * 8, now=0.009)
    batch = batch_of(s, now=0.009)
    run_s = SequenceCosts(token_costs()).run_s(len(batch), 64)
    assert run_s is not None and 0.009 + run_s <= 0.016


@pytest.mark.parametrize(("size", "length", "expected"), [
    (1, 4, 1e-3 + 4e-5), (2, 12, 1e-3 + 2.4e-4), (8, 64, 1e-3 + 5.12e-3), (4, 2, 1e-3 + 1.6e-4),
    (2, 80, 1e-3 + 1.6e-3)])
def test_sequence_costs_interpolate_between_profiled_lengths(size: int, length: int,
                                                             expected: float) -> None:
    # below the shortest profiled length the shortest one's figure is taken (a floor)
    assert SequenceCosts(token_costs()).run_s(size, length) == pytest.approx(expected)


def test_sequence_costs_have_nothing_for_an_unprofiled_batch_size() -> None:
    assert SequenceCosts(token_costs()).run_s(9, 8) is None


def test_a_batch_of_equal_lengths_fills_on_a_nearly_proportional_noisy_engine() -> None:
    """On a CPU a batch costs close to batch x one: each added job's run time then hovers
    around its share of an ideal batch, and measured noise put half of them above it. A job
    that lowers the batch's cost per member still joins, so the batch fills."""
    s = text_scheduler("by_length")
    noisy = {(b, n): 1e-4 + 1e-5 * b * n * (1.08 if b % 2 else 0.95)
             for b in SIZES for n in (4, 8, 16, 32, 64)}
    s.set_sequence_costs("commands", noisy)
    submit_lengths(s, [12] * 20)
    assert batch_of(s) == [12] * 8


def test_a_batch_keeps_its_padding_within_max_padding() -> None:
    """A 9-token command would pad a batch of 6s by a third: over a 0.15 budget it waits,
    within a budget of 1 the cost model alone decides and takes it (cheaper per command)."""
    for budget, expected in ((0.15, [6, 6, 6]), (1.0, [6, 6, 6, 9])):
        s = Scheduler(["cpu"])
        s.add_pipeline(PipelineSpec("commands", "cpu", HIGH, 0.15, queue_depth=64,
                                    batch_sizes=SIZES, sequence_batching="by_length",
                                    max_length=64, max_padding=budget))
        s.set_sequence_costs("commands", token_costs())
        submit_lengths(s, [6, 6, 9, 6])
        assert sorted(batch_of(s)) == expected
