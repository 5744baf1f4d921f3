"""The clocks: a simulated loop jumps event to event; the realtime loop also takes callbacks
from other threads. No test here puts an upper bound on a wall-clock duration; the only
timing assertion is a lower bound that ``time.sleep`` guarantees (it sleeps at least as long
as asked), so it holds however slow or loaded the machine is."""

from __future__ import annotations

import threading
import time

from edge_runtime.scheduler.loop import RealtimeLoop, SimulatedLoop


def test_simulated_loop_runs_in_time_order_then_scheduling_order() -> None:
    loop = SimulatedLoop()
    seen: list[tuple[str, float]] = []
    loop.call_at(2.0, lambda: seen.append(("c", loop.now())))
    loop.call_at(1.0, lambda: seen.append(("a", loop.now())))
    loop.call_at(1.0, lambda: seen.append(("b", loop.now())))
    cancelled = loop.call_at(1.5, lambda: seen.append(("x", loop.now())))
    cancelled.cancel()
    loop.run()
    assert seen == [("a", 1.0), ("b", 1.0), ("c", 2.0)]
    assert loop.lateness.count == 0


def test_callbacks_can_schedule_more_and_stop_the_loop() -> None:
    loop = SimulatedLoop()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(loop.now())
        if len(ticks) == 5:
            loop.stop()
        loop.call_later(0.25, tick)

    loop.call_at(0.0, tick)
    loop.run()
    assert ticks == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_realtime_loop_runs_callbacks_posted_from_other_threads() -> None:
    loop = RealtimeLoop()
    got: list[str] = []
    loop.expect_external(2)

    def worker() -> None:
        loop.call_soon_threadsafe(got.append, "one")
        loop.call_soon_threadsafe(got.append, "two")

    threading.Thread(target=worker).start()
    loop.run()  # returns once both expected posts have run and no timer is left
    assert got == ["one", "two"]


BLOCK_S = 0.05  # how long the first callback holds the loop thread
TOLERANCE_S = 0.005  # clock granularity, for the lower bound only


def blocked_then_due(loop: RealtimeLoop | SimulatedLoop) -> list[tuple[str, float]]:
    """On ``loop``: a callback that blocks the loop thread for BLOCK_S, and a timer due at the
    same moment but scheduled after it, so it cannot run before the block ends. Runs the loop
    and returns (name, when it ran by the loop's clock)."""
    ran: list[tuple[str, float]] = []
    due = loop.now()

    def block() -> None:
        ran.append(("block", loop.now()))
        time.sleep(BLOCK_S)

    loop.call_at(due, block)
    loop.call_at(due, lambda: ran.append(("timer", loop.now())))
    loop.run()
    assert [name for name, _ in ran] == ["block", "timer"]
    return ran


def test_realtime_loop_records_lateness_instead_of_raising() -> None:
    loop = RealtimeLoop()
    ran = blocked_then_due(loop)
    lateness = loop.lateness
    assert lateness.count == 2  # both timed callbacks were measured
    # the timer waited behind the block: at least BLOCK_S late, by the clock it ran at too
    assert lateness.worst_s >= BLOCK_S - TOLERANCE_S
    assert ran[1][1] - ran[0][1] >= BLOCK_S - TOLERANCE_S
    assert 0.0 < lateness.mean_s <= lateness.worst_s
    assert lateness.total_s >= lateness.worst_s


def test_simulated_loop_lateness_stays_zero_however_long_a_callback_takes() -> None:
    loop = SimulatedLoop()
    ran = blocked_then_due(loop)
    assert ran == [("block", 0.0), ("timer", 0.0)]  # host time is not simulated time
    assert (loop.lateness.count, loop.lateness.total_s, loop.lateness.worst_s,
            loop.lateness.mean_s) == (0, 0.0, 0.0, 0.0)
