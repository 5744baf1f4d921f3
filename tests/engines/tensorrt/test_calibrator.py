"""The INT8 calibrator adapter: batches from feeds, device pointers, the cache in and out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edge_runtime.config.recipe import CalibrationMethod
from edge_runtime.engines.backends.tensorrt.calibrator import (
    CalibrationBatches,
    CalibrationInput,
    CalibratorKind,
    CalibratorMethods,
    DeviceBatches,
    cache_algorithm,
    calibrator_kind,
    make_calibrator,
    retag_cache,
)
from edge_runtime.engines.backends.tensorrt.callbacks import CallbackErrors
from edge_runtime.errors import UserError
from tests.engines.tensorrt.conftest import InstallTrt
from tests.engines.tensorrt.fake_cuda import FakeCuda

F32 = np.dtype(np.float32)
INPUTS = {"image": CalibrationInput((2, 3), F32), "mask": CalibrationInput((2, 1), F32)}


def feeds(count: int, rows: int = 1) -> Iterator[dict[str, npt.NDArray[Any]]]:
    """Feed i has image rows filled with i and mask rows with -i."""
    for i in range(count):
        yield {"mask": np.full((rows, 1), -i, np.float32),
               "image": np.full((rows, 3), i, np.float32)}


def test_batches_follow_the_order_tensorrt_names_the_inputs() -> None:
    batches = CalibrationBatches(feeds(4), INPUTS)
    first = batches.next_batch(["mask", "image"])
    assert first is not None
    np.testing.assert_array_equal(first[0], [[0], [-1]])
    np.testing.assert_array_equal(first[1], [[0, 0, 0], [1, 1, 1]])
    second = batches.next_batch(["image", "mask"])
    assert second is not None and second[0][0, 0] == 2 and second[1][1, 0] == -3
    assert batches.next_batch(["image", "mask"]) is None
    assert batches.batches == 2 and batches.batch_size == 2


def test_big_feeds_are_split_and_a_partial_last_batch_is_dropped() -> None:
    batches = CalibrationBatches(feeds(1, rows=5), INPUTS)
    got = [batches.next_batch(["image", "mask"]) for _ in range(3)]
    assert [b is not None for b in got] == [True, True, False]
    assert all(a.flags.c_contiguous for b in got if b is not None for a in b)


@pytest.mark.parametrize(("feed", "message"), [
    ({"image": np.zeros((2, 3), np.float64), "mask": np.zeros((2, 1), np.float32)},
     "'image' is float64, the engine takes float32"),
    ({"image": np.zeros((2, 4), np.float32), "mask": np.zeros((2, 1), np.float32)},
     r"shape \[2, 4\], the engine calibrates at \[2, 3\]"),
    ({"image": np.zeros((2, 3), np.float32)}, r"no input \['mask'\]"),
])
def test_feeds_are_checked_against_the_engine(feed: dict[str, npt.NDArray[Any]],
                                              message: str) -> None:
    with pytest.raises(UserError, match=message):
        CalibrationBatches([feed], INPUTS).next_batch(["image", "mask"])


def test_device_batches_copy_and_return_pointers_then_empty(cuda: FakeCuda) -> None:
    device = DeviceBatches(CalibrationBatches(feeds(2), INPUTS), cuda)
    pointers = device.pointers(["image", "mask"])
    assert len(pointers) == 2
    np.testing.assert_array_equal(cuda.read(pointers[0], (2, 3), np.float32),
                                  [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(cuda.read(pointers[1], (2, 1), np.float32), [[0], [-1]])
    assert cuda.calls[-1] == "sync"  # copies done before TensorRT reads them
    assert device.pointers(["image", "mask"]) == []
    assert cuda.memory == {} and cuda.streams == set()  # freed at the end


def test_cache_header_names_the_algorithm() -> None:
    assert cache_algorithm(b"TRT-8502-EntropyCalibration2\nx: 3c010204\n") == \
        "EntropyCalibration2"
    assert cache_algorithm(b"TRT-100300-MinMaxCalibration\n") == "MinMaxCalibration"
    assert cache_algorithm(b"garbage") is None


def test_a_cache_is_presented_as_the_running_tensorrts() -> None:
    cache = b"TRT-100300-EntropyCalibration2\nimage: 3c010204\n"
    assert retag_cache(cache, "8.5.2.2") == b"TRT-8502-EntropyCalibration2\nimage: 3c010204\n"
    assert retag_cache(cache, "10.3.0.30") == cache
    assert retag_cache(b"not a cache", "10.3.0.30") == b"not a cache"


def test_which_calibrator() -> None:
    entropy, minmax, pct = (CalibrationMethod.ENTROPY, CalibrationMethod.MINMAX,
                            CalibrationMethod.PERCENTILE)
    assert calibrator_kind(entropy, None, dla=True) is CalibratorKind.ENTROPY2
    assert calibrator_kind(minmax, None, dla=False) is CalibratorKind.MINMAX
    with pytest.raises(UserError, match="no percentile calibrator"):
        calibrator_kind(pct, None, dla=False)
    with pytest.raises(UserError, match="only from IInt8EntropyCalibrator2, not minmax"):
        calibrator_kind(minmax, None, dla=True)
    # a cache decides by its header, whatever the method (percentile ranges are written as
    # an EntropyCalibration2 cache by the Q/DQ stage)
    assert calibrator_kind(pct, b"TRT-8502-EntropyCalibration2\n", dla=True) is \
        CalibratorKind.ENTROPY2
    assert calibrator_kind(entropy, b"TRT-8502-MinMaxCalibration\n", dla=False) is \
        CalibratorKind.MINMAX
    with pytest.raises(UserError, match="LegacyCalibration"):
        calibrator_kind(entropy, b"TRT-8502-LegacyCalibration\n", dla=False)


def test_a_dla_never_gets_a_minmax_calibrator_even_from_a_cache() -> None:
    """The target decides before the cache's header: a MinMax cache (what the Q/DQ stage
    writes for method: minmax) must not hand a DLA build an IInt8MinMaxCalibrator."""
    minmax_cache = b"TRT-8502-MinMaxCalibration\nimage: 3c010204\n"
    for method in CalibrationMethod:
        with pytest.raises(UserError, match=r"minmax|MinMaxCalibration"):
            calibrator_kind(method, minmax_cache, dla=True)
    assert calibrator_kind(CalibrationMethod.MINMAX, minmax_cache, dla=False) is \
        CalibratorKind.MINMAX


def test_make_calibrator_subclasses_the_tensorrt_class(install_trt: InstallTrt,
                                                       cuda: FakeCuda) -> None:
    trt = install_trt("8.5.2.2")
    written: list[bytes] = []
    calibrator = make_calibrator(CalibrationMethod.MINMAX, feeds(2), 2, None, written.append,
                                 inputs=INPUTS, cuda=cuda, errors=CallbackErrors())
    assert isinstance(calibrator, trt.IInt8MinMaxCalibrator)
    assert calibrator.get_batch_size() == 2
    assert calibrator.read_calibration_cache() is None  # no cache: calibrate
    assert len(calibrator.get_batch(["image", "mask"])) == 2
    assert calibrator.get_batch(["image", "mask"]) == []
    calibrator.write_calibration_cache(memoryview(b"TRT-8502-MinMaxCalibration\n"))
    assert written == [b"TRT-8502-MinMaxCalibration\n"]


def test_make_calibrator_from_a_cache_alone(install_trt: InstallTrt) -> None:
    trt = install_trt("10.3.0.30")
    cache = b"TRT-100300-EntropyCalibration2\nimage: 3c010204\n"
    calibrator = make_calibrator(CalibrationMethod.PERCENTILE, None, 1, cache, lambda _: None,
                                 inputs=INPUTS, cuda=None, dla=True,
                                 errors=CallbackErrors())
    assert isinstance(calibrator, trt.IInt8EntropyCalibrator2)
    assert calibrator.read_calibration_cache() == cache
    assert calibrator.get_batch(["image", "mask"]) == []


def test_both_calibrators_share_one_body_and_behave_the_same(install_trt: InstallTrt,
                                                             cuda: FakeCuda) -> None:
    trt = install_trt("10.3.0.30")
    bases = {CalibrationMethod.ENTROPY: trt.IInt8EntropyCalibrator2,
             CalibrationMethod.MINMAX: trt.IInt8MinMaxCalibrator}
    seen: dict[CalibrationMethod, tuple[Any, ...]] = {}
    for method, base in bases.items():
        written: list[bytes] = []
        calibrator = make_calibrator(method, feeds(2), 2, None, written.append,
                                     inputs=INPUTS, cuda=cuda, errors=CallbackErrors())
        assert isinstance(calibrator, base) and isinstance(calibrator, CalibratorMethods)
        for name in ("get_batch_size", "get_batch", "read_calibration_cache",
                     "write_calibration_cache"):
            assert getattr(type(calibrator), name) is getattr(CalibratorMethods, name)
        pointers = calibrator.get_batch(["image", "mask"])
        batch = [cuda.read(p, shape, np.float32).tolist()
                 for p, shape in zip(pointers, [(2, 3), (2, 1)], strict=True)]
        calibrator.write_calibration_cache(memoryview(b"cache"))
        seen[method] = (calibrator.get_batch_size(), calibrator.read_calibration_cache(), batch,
                        calibrator.get_batch(["image", "mask"]), written)
    assert seen[CalibrationMethod.ENTROPY] == seen[CalibrationMethod.MINMAX]
    assert seen[CalibrationMethod.MINMAX][0] == 2 and seen[CalibrationMethod.MINMAX][3] == []
