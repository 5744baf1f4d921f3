"""Small parts: the logger bridge, tensor sizes and buffers, build progress lines."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from edge_runtime.engines.backends.tensorrt.logger import (
    ErrorTail,
    LogRouter,
    capture_errors,
    forward,
    python_level,
    shared_logger,
)
from edge_runtime.engines.backends.tensorrt.progress import PhaseReport, make_progress_monitor
from edge_runtime.engines.backends.tensorrt.tensors import (
    DeviceBuffers,
    TensorSlot,
    nbytes,
    numpy_dtype,
)
from tests.engines.tensorrt.conftest import InstallTrt
from tests.engines.tensorrt.fake_cuda import FakeCuda


def test_severities_map_to_logging_levels() -> None:
    assert python_level("INTERNAL_ERROR") == logging.CRITICAL
    assert python_level("ERROR") == logging.ERROR
    assert python_level("WARNING") == logging.WARNING
    assert python_level("INFO") == logging.DEBUG == python_level("VERBOSE")
    assert python_level("SOMETHING_NEW") == logging.WARNING


def test_errors_are_kept_for_one_line_messages(caplog: pytest.LogCaptureFixture) -> None:
    errors = ErrorTail(keep=2)
    with caplog.at_level(logging.DEBUG, logger="edge_runtime.tensorrt"):
        forward("ERROR", "first\n", errors)
        forward("WARNING", "careful", errors)
        forward("INTERNAL_ERROR", "last", errors)
    assert errors.last() == "last"
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.WARNING,
                                                   logging.CRITICAL]
    assert caplog.records[0].getMessage() == "TensorRT: first"


def test_one_logger_per_process_routes_errors_to_the_capture(install_trt: InstallTrt) -> None:
    trt = install_trt("10.3.0.30")
    logger = shared_logger()
    assert isinstance(logger, trt.ILogger) and logger.initialised
    assert shared_logger() is logger  # every Builder and Runtime gets the same one
    with capture_errors() as outer:
        with capture_errors() as inner:
            logger.log(trt.ILogger.Severity.ERROR, "Error Code 2: out of memory")
        logger.log(trt.ILogger.Severity.WARNING, "only a warning")
    assert inner.last() == "Error Code 2: out of memory" and outer.last() is None
    logger.log(trt.ILogger.Severity.ERROR, "nobody listens")  # logged, kept by no one
    assert inner.last() == "Error Code 2: out of memory"


def test_an_error_from_a_thread_without_a_capture_reaches_every_open_one() -> None:
    router, seen = LogRouter(), []
    with router.capture() as mine:
        def tensorrt_thread() -> None:
            seen.extend(router.sinks())
            router.log("ERROR", "from TensorRT's own thread")

        worker = threading.Thread(target=tensorrt_thread)
        worker.start()
        worker.join()
    assert seen == [mine] and mine.last() == "from TensorRT's own thread"
    assert router.sinks() == []


def test_dtypes_and_sizes() -> None:
    assert numpy_dtype("HALF") == np.float16 and numpy_dtype("BOOL") == np.bool_
    with pytest.raises(TypeError, match="BF16 has no numpy equivalent"):
        numpy_dtype("BF16")
    assert nbytes((2, 3, 4), np.dtype(np.float16)) == 48
    with pytest.raises(ValueError, match="not fully known"):
        nbytes((-1, 3), np.dtype(np.float32))
    assert TensorSlot("x", True, np.dtype(np.float32), (-1, 3)).is_dynamic


def test_device_buffers_grow_and_free(cuda: FakeCuda) -> None:
    buffers = DeviceBuffers(cuda)
    first = buffers.ensure("x", 64)
    assert buffers.ensure("x", 32) == first and buffers.capacity("x") == 64
    assert buffers.ensure("x", 128) != first and buffers.capacity("x") == 128
    buffers.free_all()
    assert cuda.memory == {}


def test_phase_report_shows_two_levels_and_quarters() -> None:
    lines: list[str] = []
    report = PhaseReport(lines.append)
    report.start("Building engine", None, 8)
    report.start("Tactic selection", "Building engine", 2)
    report.start("Layer 3", "Tactic selection", 5)  # third level: not shown
    for step in range(8):
        assert report.step("Building engine", step)
    report.finish("Layer 3")
    assert lines == ["TensorRT: Building engine", "TensorRT:   Tactic selection",
                     "TensorRT: Building engine 2/8", "TensorRT: Building engine 4/8",
                     "TensorRT: Building engine 6/8", "TensorRT: Building engine 8/8"]


def test_progress_monitor_needs_10(install_trt: InstallTrt) -> None:
    trt = install_trt("10.3.0.30")
    lines: list[str] = []
    monitor = make_progress_monitor(lines.append)
    assert isinstance(monitor, trt.IProgressMonitor)
    monitor.phase_start("Building engine", None, 1)
    assert monitor.step_complete("Building engine", 0) is True
    assert lines == ["TensorRT: Building engine"]
