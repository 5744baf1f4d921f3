"""The STATUS= line the watchdog keeps current."""

from __future__ import annotations

from edge_runtime.service.watchdog import status_line
from tests.runtime.test_liveness import pipeline, snapshot


def test_the_status_line() -> None:
    pipelines = {"front": pipeline("front"), "rear": pipeline("rear", "failed", 0.0)}
    assert status_line(snapshot(pipelines=pipelines)) == \
        "40W, 7.5 W: 1/2 pipelines running: front 30.0 Hz, rear 0.0 Hz (failed)"
