"""The clocks: a simulated loop jumps event to event; the realtime loop also takes callbacks
from other threads. No test here asserts a wall-clock duration."""

from __future__ import annotations

import threading

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


def test_realtime_loop_records_lateness_instead_of_raising() -> None:
    loop = RealtimeLoop()
    order: list[str] = []
    loop.call_at(0.0, lambda: order.append("first"))
    loop.call_at(0.0, lambda: order.append("second"))
    loop.run()
    assert order == ["first", "second"]
    assert loop.lateness.count == 2 and loop.lateness.worst_s >= 0.0
