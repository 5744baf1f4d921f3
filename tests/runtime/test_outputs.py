"""Outputs leave as typed values; a slow subscriber drops its own oldest, never blocks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge_runtime.pipelines.output import Output, RawTensors
from edge_runtime.pipelines.postprocess import Classification
from edge_runtime.runtime.outputs import OutputBus


def output(index: int, pipeline: str = "cam") -> Output:
    return Output(pipeline, index, float(index), f"f{index}", index / 30, index / 30 + 0.002,
                  False, "40W", Classification((1,), (0.9,), ("b",)))


def test_a_slow_subscriber_drops_its_oldest_and_blocks_nobody() -> None:
    bus = OutputBus(threaded=True)
    release = threading.Event()
    slow_seen: list[int] = []
    fast_seen: list[int] = []

    def slow(item: Output) -> None:
        release.wait(10.0)
        slow_seen.append(item.frame_index)

    slow_sub = bus.subscribe(slow, queue_size=4)
    fast_sub = bus.subscribe(lambda item: fast_seen.append(item.frame_index), queue_size=1000)
    for index in range(100):
        bus.publish(output(index))
    # every publish returned, and the fast subscriber got everything, while the slow callback
    # is still blocked on its first output: nobody waited for it
    assert fast_sub.flush(5.0) and fast_seen == list(range(100))
    assert slow_seen == [] and not release.is_set()
    release.set()
    assert slow_sub.flush(5.0)
    # the first output was taken before the queue filled; of the rest only the newest 4 wait
    assert slow_seen[-4:] == [96, 97, 98, 99] and len(slow_seen) <= 6
    assert slow_sub.dropped == 100 - len(slow_seen) and slow_sub.delivered == len(slow_seen)
    bus.close()


def test_a_raising_subscriber_is_counted_and_the_others_still_get_everything() -> None:
    bus = OutputBus(threaded=False)
    got: list[int] = []

    def broken(item: Output) -> None:
        raise KeyError(item.frame_index)

    bad = bus.subscribe(broken)
    bus.subscribe(lambda item: got.append(item.frame_index), pipelines=["cam"])
    for index in range(5):
        bus.publish(output(index))
    bus.publish(output(99, pipeline="other"))  # not for the second subscriber
    assert got == [0, 1, 2, 3, 4]
    assert (bad.errors, bad.delivered) == (6, 0)


def test_the_record_form_carries_the_hosts_stamp_and_id() -> None:
    record = output(7).to_record()
    assert (record["stamp"], record["frame_id"], record["frame"]) == (7.0, "f7", 7)
    assert record["latency_ms"] == pytest.approx(2.0)
    raw = Output("cam", 0, None, "", 0.0, 0.001, False, "15W",
                 RawTensors({"x": np.ones((1, 3), np.float32)})).to_record()
    assert "stamp" not in raw and raw["outputs"] == {"x": {"shape": [1, 3], "mean": 1.0}}


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        OutputBus(threaded=False).subscribe(lambda item: None, queue_size=0)

