"""The scheduling rules, one test per rule, with plain numbers for time."""

from __future__ import annotations

import pytest

from edge_runtime.scheduler.core import (
    ESTIMATE_WEIGHT,
    PROBE_AFTER,
    TRANSITIONS,
    Event,
    Job,
    JobState,
    PipelineSpec,
    Scheduler,
    SchedulerError,
)

CRITICAL, HIGH, NORMAL, BEST_EFFORT = range(4)


def make(*specs: PipelineSpec, lanes: tuple[str, ...] = ("gpu", "dla0"),
         host_lanes: tuple[str, ...] = ("cpu",)) -> Scheduler:
    scheduler = Scheduler(lanes)
    for lane in host_lanes:
        scheduler.add_lane(lane, host_cpu=True)
    for spec in specs:
        scheduler.add_pipeline(spec)
    return scheduler


def test_idle_lane_takes_the_higher_priority_class_first() -> None:
    s = make(PipelineSpec("nav", "gpu", BEST_EFFORT, None), PipelineSpec("det", "gpu", CRITICAL,
                                                                          0.033))
    s.submit("nav", 0, release=0.0, now=0.0)
    s.submit("det", 0, release=0.001, now=0.001)
    (job,) = s.decide(now=0.001)
    assert job.pipeline == "det"


def test_earliest_deadline_first_within_a_class() -> None:
    s = make(PipelineSpec("a", "gpu", HIGH, 0.100), PipelineSpec("b", "gpu", HIGH, 0.020))
    s.submit("a", 0, release=0.0, now=0.0)
    s.submit("b", 0, release=0.010, now=0.010)  # deadline 0.030 < 0.100
    (job,) = s.decide(now=0.010)
    assert job.pipeline == "b"


def test_no_deadline_sorts_after_any_deadline_and_ties_go_to_the_earlier_submission() -> None:
    s = make(PipelineSpec("free", "gpu", NORMAL, None), PipelineSpec("due", "gpu", NORMAL, 5.0),
             PipelineSpec("free2", "gpu", NORMAL, None))
    s.submit("free", 0, 0.0, 0.0)
    s.submit("free2", 0, 0.0, 0.0)
    s.submit("due", 0, 0.0, 0.0)
    order = []
    for t in range(3):
        (job,) = s.decide(now=float(t))
        order.append(job.pipeline)
        s.complete(job, now=t + 0.5)
    assert order == ["due", "free", "free2"]


def test_a_new_frame_replaces_the_oldest_waiting_one_and_counts_a_drop() -> None:
    s = make(PipelineSpec("cam", "gpu", NORMAL, None, queue_depth=1))
    first = s.submit("cam", 0, 0.0, 0.0)
    assert first.dropped == ()
    second = s.submit("cam", 1, 0.033, 0.033)
    assert [j.frame_index for j in second.dropped] == [0]
    assert second.dropped[0].state is JobState.DROPPED
    assert s.waiting("cam") == 1
    (job,) = s.decide(now=0.04)
    assert job.frame_index == 1


def test_queue_depth_bounds_waiting_frames() -> None:
    s = make(PipelineSpec("cam", "gpu", NORMAL, None, queue_depth=3))
    drops = [len(s.submit("cam", i, i * 0.1, i * 0.1).dropped) for i in range(5)]
    assert drops == [0, 0, 0, 1, 1]
    assert s.waiting("cam") == 3


def test_lanes_are_not_preempted_and_work_in_parallel() -> None:
    s = make(PipelineSpec("be", "gpu", BEST_EFFORT, None), PipelineSpec("crit", "gpu", CRITICAL,
                                                                         0.01),
             PipelineSpec("dla", "dla0", NORMAL, None))
    s.submit("be", 0, 0.0, 0.0)
    (running,) = s.decide(0.0)
    s.submit("crit", 0, 0.001, 0.001)
    s.submit("dla", 0, 0.001, 0.001)
    dispatched = s.decide(0.001)
    assert [j.pipeline for j in dispatched] == ["dla"]  # gpu still busy with the best-effort job
    assert s.running("gpu") is running
    s.complete(running, 0.005)
    (job,) = s.decide(0.005)
    assert job.pipeline == "crit"


def test_a_pipeline_has_one_job_running_so_outputs_stay_in_order() -> None:
    s = make(PipelineSpec("cam", "gpu", NORMAL, None, queue_depth=2), lanes=("gpu",))
    s.submit("cam", 0, 0.0, 0.0)
    s.submit("cam", 1, 0.1, 0.1)
    assert len(s.decide(0.1)) == 1
    assert s.decide(0.1) == []


def test_jobs_run_only_on_their_own_lane() -> None:
    s = make(PipelineSpec("dla", "dla0", NORMAL, None))
    s.submit("dla", 0, 0.0, 0.0)
    (job,) = s.decide(0.0)
    assert job.lane == "dla0"
    assert s.running("gpu") is None


def test_illegal_events_raise_and_change_nothing() -> None:
    s = make(PipelineSpec("cam", "gpu", NORMAL, None))
    submitted = s.submit("cam", 0, 0.0, 0.0)
    with pytest.raises(SchedulerError):
        s.complete(submitted.job, 0.1)  # never dispatched
    assert submitted.job.state is JobState.WAITING
    (job,) = s.decide(0.1)
    s.complete(job, 0.2)
    with pytest.raises(SchedulerError):
        s.complete(job, 0.3)
    assert job.state is JobState.DONE and job.finished == 0.2


def test_the_transition_table_is_the_whole_state_machine() -> None:
    job = Job("p", 0, "gpu", 0, 0.0, None, 0)
    for state in JobState:
        for event in Event:
            job.state = state
            if (state, event) in TRANSITIONS:
                job.apply(event)
                assert job.state is TRANSITIONS[(state, event)]
            else:
                with pytest.raises(SchedulerError):
                    job.apply(event)
                assert job.state is state


def test_configuration_mistakes_are_refused() -> None:
    s = make(PipelineSpec("a", "gpu", NORMAL, None))
    with pytest.raises(SchedulerError):
        s.add_pipeline(PipelineSpec("a", "gpu", NORMAL, None))
    with pytest.raises(SchedulerError):
        s.add_pipeline(PipelineSpec("b", "dla1", NORMAL, None))
    with pytest.raises(SchedulerError):
        s.submit("nope", 0, 0.0, 0.0)


def test_identical_event_sequences_give_identical_decisions() -> None:
    def trace() -> list[tuple[str, int, float]]:
        s = make(PipelineSpec("a", "gpu", HIGH, 0.05), PipelineSpec("b", "gpu", HIGH, 0.05),
                 PipelineSpec("c", "gpu", BEST_EFFORT, None))
        out = []
        running: Job | None = None
        for step in range(40):
            now = step * 0.01
            for name in "abc":
                s.submit(name, step, now, now)
            if running is not None:
                s.complete(running, now)
            for job in s.decide(now):
                running = job
                out.append((job.pipeline, job.frame_index, now))
        return out

    assert trace() == trace()
    served = [p for p, _, _ in trace()]
    assert set(served) == {"a", "b"}  # best effort starves under overload, by design
    assert abs(served.count("a") - served.count("b")) <= 1  # equals share the lane


def test_a_replacing_frame_inherits_the_urgency_of_the_frame_it_replaced() -> None:
    s = make(PipelineSpec("a", "gpu", HIGH, 0.05), PipelineSpec("b", "gpu", HIGH, 0.05),
             lanes=("gpu",))
    s.submit("a", 0, 0.0, 0.0)
    s.submit("b", 0, 0.0, 0.0)
    (first,) = s.decide(0.0)
    assert first.pipeline == "a"
    s.submit("a", 1, 0.01, 0.01)
    replacing = s.submit("b", 1, 0.01, 0.01)  # replaces b's frame 0 (deadline 0.05)
    assert replacing.job.deadline == pytest.approx(0.06)
    assert replacing.job.key[1] == pytest.approx(0.05)
    s.complete(first, 0.01)
    (second,) = s.decide(0.01)
    assert second.pipeline == "b"


def learn(s: Scheduler, pipeline: str, run_s: float, at: float) -> None:
    """Run one frame of ``pipeline`` for ``run_s`` so the core learns its run time."""
    s.submit(pipeline, -1, at, at)
    (job,) = s.decide(at)
    assert job.pipeline == pipeline
    s.complete(job, at + run_s)


def test_a_lower_class_job_that_would_make_a_critical_frame_miss_waits() -> None:
    # critical: 30 Hz, 33 ms deadline, runs 5 ms. heavy best-effort: runs 70 ms.
    s = make(PipelineSpec("crit", "gpu", CRITICAL, 0.033, period_s=1 / 30),
             PipelineSpec("heavy", "gpu", BEST_EFFORT, None), lanes=("gpu",))
    learn(s, "heavy", 0.070, at=0.0)
    learn(s, "crit", 0.005, at=0.1)  # released at 0.1: next due 0.1333, must start by 0.1617
    s.submit("heavy", 1, 0.11, 0.11)
    assert s.decide(0.11) == []  # 0.11 + 0.070 > 0.1617: the lane stays idle
    s.submit("crit", 1, 0.1333, 0.1333)
    (job,) = s.decide(0.1333)
    assert job.pipeline == "crit"
    s.complete(job, 0.1383)
    # next critical frame due 0.1667, must start by 0.1667 + 0.033 - 0.005 = 0.1947
    assert s.decide(0.1383) == []  # 0.1383 + 0.070 = 0.2083 > 0.1947


def test_a_shorter_job_backfills_the_gap_a_longer_one_cannot_use() -> None:
    s = make(PipelineSpec("crit", "gpu", CRITICAL, 0.020, period_s=0.050),
             PipelineSpec("long", "gpu", NORMAL, None), PipelineSpec("short", "gpu", NORMAL, None),
             lanes=("gpu",))
    learn(s, "long", 0.040, at=0.0)
    learn(s, "short", 0.005, at=0.1)
    learn(s, "crit", 0.002, at=0.2)  # next due 0.25, must start by 0.268
    s.submit("long", 1, 0.23, 0.23)  # older: ahead of 'short' in the queue order
    s.submit("short", 1, 0.235, 0.235)
    (job,) = s.decide(0.24)
    assert job.pipeline == "short"  # 0.24 + 0.040 > 0.268, but 0.24 + 0.005 fits
    s.complete(job, 0.245)
    assert s.decide(0.245) == []  # 'long' still does not fit before the critical frame


def test_protection_only_applies_to_periodic_pipelines_with_deadlines() -> None:
    s = make(PipelineSpec("crit", "gpu", CRITICAL, None, period_s=1 / 30),
             PipelineSpec("heavy", "gpu", BEST_EFFORT, None), lanes=("gpu",))
    learn(s, "heavy", 0.5, at=0.0)
    learn(s, "crit", 0.005, at=1.0)
    s.submit("heavy", 1, 1.01, 1.01)
    assert [j.pipeline for j in s.decide(1.01)] == ["heavy"]


def test_a_job_that_can_no_longer_meet_its_deadline_is_dropped_before_it_runs() -> None:
    s = make(PipelineSpec("det", "gpu", CRITICAL, 0.030, queue_depth=2, expected_run_s=0.010),
             PipelineSpec("nav", "gpu", BEST_EFFORT, 0.100, expected_run_s=0.010))
    s.submit("det", 0, release=0.000, now=0.000)  # deadline 0.030: must start by 0.020
    s.submit("det", 1, release=0.015, now=0.015)  # deadline 0.045: must start by 0.035
    s.submit("nav", 0, release=0.000, now=0.000)
    late = s.expire(now=0.025)
    assert [(j.pipeline, j.frame_index, j.state) for j in late] == [("det", 0, JobState.DROPPED)]
    (job,) = s.decide(now=0.025)
    assert (job.pipeline, job.frame_index) == ("det", 1)  # the lane goes to a frame in time
    assert s.waiting("nav") == 1  # nav's deadline (0.100) can still be met


def test_a_job_with_no_deadline_or_no_estimate_never_expires() -> None:
    s = make(PipelineSpec("free", "gpu", NORMAL, None, expected_run_s=0.010),
             PipelineSpec("new", "dla0", NORMAL, 0.010))
    s.submit("free", 0, release=0.0, now=0.0)
    s.submit("new", 0, release=0.0, now=0.0)
    assert s.expire(now=10.0) == []
    assert {j.pipeline for j in s.decide(now=10.0)} == {"free", "new"}


def test_after_a_run_of_late_drops_the_next_frame_runs_as_a_probe() -> None:
    """An estimate is learned only from completions: one stall that pushed it past the deadline
    must not lock the pipeline out; every PROBE_AFTER-th frame runs and re-measures it."""
    s = make(PipelineSpec("det", "gpu", CRITICAL, 0.010, expected_run_s=0.012))
    for index in range(PROBE_AFTER):
        s.submit("det", index, release=index * 0.01, now=index * 0.01)
        assert [j.frame_index for j in s.expire(now=index * 0.01)] == [index]
    s.submit("det", PROBE_AFTER, release=0.08, now=0.08)
    assert s.expire(now=0.08) == []
    (probe,) = s.decide(now=0.08)
    s.complete(probe, now=0.083)  # it takes 3 ms in truth
    assert s.expected_run_s("det") == pytest.approx(0.012 + 0.2 * (0.003 - 0.012))
    s.submit("det", 9, release=0.09, now=0.09)
    assert len(s.expire(now=0.09)) == 1  # the streak starts again from the probe


def test_one_stalled_completion_moves_the_estimate_by_at_most_a_fifth() -> None:
    s = make(PipelineSpec("det", "gpu", CRITICAL, 0.033, expected_run_s=0.003))
    s.submit("det", 0, release=0.0, now=0.0)
    (job,) = s.decide(now=0.0)
    s.complete(job, now=0.030)  # a 30 ms stall of the thread that reports completions
    assert s.expected_run_s("det") == pytest.approx(0.003 * (1 + ESTIMATE_WEIGHT))


def test_protection_reserves_the_tail_of_run_times_not_their_mean() -> None:
    """A lower-class job whose runs vary is held back by its mean plus two deviations: a
    reservation of the mean is overrun by every slower than average run."""
    s = make(PipelineSpec("crit", "gpu", CRITICAL, 0.020, period_s=0.1, expected_run_s=0.005),
             PipelineSpec("varied", "gpu", BEST_EFFORT, None, expected_run_s=0.040),
             lanes=("gpu",))
    for index, run_s in enumerate((0.030, 0.050) * 5):  # mean 40 ms, deviation ~10 ms
        learn(s, "varied", run_s, at=float(index))
    s.submit("crit", 0, release=20.0, now=20.0)
    (crit,) = s.decide(now=20.0)
    s.complete(crit, now=20.005)
    # the next critical frame (20.1) must start by 20.115; the varied job expects 40 ms
    s.submit("varied", 99, release=20.07, now=20.07)
    assert s.decide(now=20.07) == []  # 20.07 + 40 ms fits the mean, not the tail
    s2 = make(PipelineSpec("crit", "gpu", CRITICAL, 0.020, period_s=0.1, expected_run_s=0.005),
              PipelineSpec("steady", "gpu", BEST_EFFORT, None, expected_run_s=0.040),
              lanes=("gpu",))
    for index in range(10):
        learn(s2, "steady", 0.040, at=float(index))
    s2.submit("crit", 0, release=20.0, now=20.0)
    (crit,) = s2.decide(now=20.0)
    s2.complete(crit, now=20.005)
    s2.submit("steady", 99, release=20.07, now=20.07)
    assert [j.pipeline for j in s2.decide(now=20.07)] == ["steady"]  # no tail: it fits


def test_a_measured_tail_seeds_the_reservation_of_a_new_activation() -> None:
    """The caller's cost model measured this engine's p95 in this mode before: protection
    reserves it from the first frame instead of learning the spread again."""
    s = make(PipelineSpec("crit", "gpu", CRITICAL, 0.020, period_s=0.1, expected_run_s=0.005),
             PipelineSpec("varied", "gpu", BEST_EFFORT, None, expected_run_s=0.040,
                          expected_tail_s=0.060), lanes=("gpu",))
    s.submit("crit", 0, release=20.0, now=20.0)
    (crit,) = s.decide(now=20.0)
    s.complete(crit, now=20.005)
    s.submit("varied", 0, release=20.07, now=20.07)
    assert s.decide(now=20.07) == []  # 40 ms would fit before 20.115; its 60 ms tail does not
    s.reset_estimates({"varied": 0.040}, {"varied": 0.040})  # new clocks, a steady engine
    assert [j.pipeline for j in s.decide(now=20.07)] == ["varied"]


def test_protection_reserves_what_the_protected_frames_spend_after_their_run() -> None:
    """Critical outputs leave 10 ms after their runs end (handing over, decoding,
    publishing): a lower-class job that ends in time for the critical run alone is held
    back, since the deadline is met at the output. Before any overhead is learned it runs."""
    def scenario(overhead_s: float | None) -> list[str]:
        s = make(PipelineSpec("crit", "gpu", CRITICAL, 0.020, period_s=0.1,
                              expected_run_s=0.005),
                 PipelineSpec("low", "gpu", BEST_EFFORT, None, expected_run_s=0.040),
                 lanes=("gpu",))
        for index in range(10):
            learn(s, "low", 0.040, at=float(index))
            if overhead_s is not None:
                s.learn_overhead("crit", overhead_s)
        s.submit("crit", 0, release=20.0, now=20.0)
        (crit,) = s.decide(now=20.0)
        s.complete(crit, now=20.005)
        # next critical frame (20.1) must start by 20.115 for its run, 20.105 with overhead
        s.submit("low", 99, release=20.07, now=20.07)
        return [j.pipeline for j in s.decide(now=20.07)]  # low ends at 20.11

    assert scenario(None) == ["low"]
    assert scenario(0.010) == []


def test_drop_before_run_counts_the_overhead_after_the_run() -> None:
    s = make(PipelineSpec("det", "gpu", CRITICAL, 0.030, queue_depth=2, expected_run_s=0.010),
             lanes=("gpu",))
    for _ in range(30):
        s.learn_overhead("det", 0.008)
    s.submit("det", 0, release=0.000, now=0.000)  # deadline 0.030: 10 ms run + 8 ms after
    assert s.expire(now=0.011) == []
    assert [j.frame_index for j in s.expire(now=0.013)] == [0]


def test_lower_classes_defer_host_work_while_a_higher_class_runs_on_the_host_cpu() -> None:
    """Rule 11: preprocessing a best-effort frame beside a critical run on the CPU lane would
    take a core from it; on an accelerator lane it takes nothing from the run."""
    s = make(PipelineSpec("det", "cpu", CRITICAL, 0.033), PipelineSpec("cls", "cpu", HIGH, 0.1),
             PipelineSpec("map", "cpu", BEST_EFFORT, None),
             PipelineSpec("seg", "gpu", BEST_EFFORT, None), lanes=("gpu",))
    assert not s.defer_host_work("map")  # nothing runs
    s.submit("cls", 0, release=0.0, now=0.0)
    s.decide(now=0.0)
    assert s.defer_host_work("map")  # below the running class
    assert not s.defer_host_work("cls") and not s.defer_host_work("det")  # equal, higher
    assert s.defer_host_work("seg")  # its own lane is the GPU, but its host work is the CPU's


def test_accelerator_lanes_never_defer_host_work() -> None:
    s = make(PipelineSpec("det", "gpu", CRITICAL, 0.033),
             PipelineSpec("map", "gpu", BEST_EFFORT, None))
    s.submit("det", 0, release=0.0, now=0.0)
    s.decide(now=0.0)
    assert not s.defer_host_work("map")
