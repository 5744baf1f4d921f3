"""Implicit INT8 calibration: our calibration feeds (or a cache) behind TensorRT's calibrator.

TensorRT (8.x, 10.x; deprecated from 10.1, removed in 11.0) pulls calibration batches through
an ``IInt8Calibrator`` subclass: ``get_batch(names)`` returns one device pointer per input name,
``read_calibration_cache`` lets it skip calibration, ``write_calibration_cache`` hands the
result back. :func:`make_calibrator` creates that subclass inside the function (importing this
module never imports TensorRT); everything TensorRT-independent lives in plain code here:
:class:`CalibrationBatches` turns the feeds (the one calibration protocol, shared with the
onnxruntime calibrators) into batches of the engine's calibration shape, in the order TensorRT
names the inputs, with dtype and shape checks.

Which TensorRT calibrator (decided by :func:`calibrator_kind`):

- The target decides first. A DLA build always gets ``IInt8EntropyCalibrator2``: "the required
  calibrator for DLA, as it supports per activation tensor scaling" (``NvInfer.h``, TensorRT
  10.3.0). ``method: minmax`` on a DLA is refused with the fix, and so is a cache whose header
  names another algorithm, rather than handing the DLA a cache under a header it was not
  written by: the header says how the scales were chosen, and TensorRT skips a cache it finds
  incompatible (NVIDIA/TensorRT#1378) instead of failing, which would leave the build
  uncalibrated without a word.
- On the GPU, ``entropy`` -> ``IInt8EntropyCalibrator2`` (TensorRT's recommended one) and
  ``minmax`` -> ``IInt8MinMaxCalibrator``; a calibration *cache* is used whatever the method,
  with the calibrator its header names.
- ``percentile`` has no TensorRT calibrator. ``IInt8LegacyCalibrator``'s ``quantile`` picks a
  histogram region maximum, not a percentile of the activations; it is deprecated, unsupported
  on DLA and needs hand tuning, so we do not map to it. Percentile ranges take the explicit
  path: the Q/DQ stage computes them with onnxruntime and the builder receives a quantized ONNX
  (or, for a DLA, the ``EntropyCalibration2`` cache it writes from the same ranges).

TensorRT's wrapper swallows any exception raised in the calibrator's methods (``get_batch``
then reads as "no more batches"); :class:`CalibratorSource` runs them under the build's
:class:`~.callbacks.CallbackErrors`, which the builder re-raises once TensorRT returns.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge_runtime.config.recipe import CalibrationMethod
from edge_runtime.engines.backends.tensorrt.callbacks import CallbackErrors
from edge_runtime.engines.backends.tensorrt.cuda import CudaApi
from edge_runtime.engines.backends.tensorrt.tensors import DeviceBuffers, nbytes
from edge_runtime.engines.base import CalibrationFeeds
from edge_runtime.errors import UserError
from edge_runtime.optimize.trt_cache import version_tag

if TYPE_CHECKING:
    import tensorrt
    from typing_extensions import Buffer

LOG = logging.getLogger("edge_runtime.tensorrt")


class CalibratorKind(str, enum.Enum):
    """The TensorRT calibrator class to derive from."""

    ENTROPY2 = "EntropyCalibration2"
    MINMAX = "MinMaxCalibration"


@dataclass(frozen=True)
class CalibrationInput:
    """What the engine takes for one input during calibration (the profile's opt shape)."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]


def cache_algorithm(cache: bytes) -> str | None:
    """The algorithm a TensorRT calibration cache was written by, from its first line
    (``TRT-8502-EntropyCalibration2``), or None if the header is not TensorRT's."""
    first = cache.split(b"\n", 1)[0].decode("ascii", errors="replace").strip()
    parts = first.split("-", 2)
    if len(parts) != 3 or parts[0] != "TRT":
        return None
    return parts[2]


def retag_cache(cache: bytes, version: str) -> bytes:
    """``cache`` with its header's version set to ``version`` (NV_TENSORRT_VERSION form).

    The Q/DQ stage writes its cache before it knows which TensorRT will read it (the scales'
    lines are the same in 8.5 and 10.x). Whether TensorRT refuses a header naming another
    release is not documented; presenting the cache as the running release's removes the
    question. A cache without a TensorRT header is returned as it is."""
    first, newline, rest = cache.partition(b"\n")
    parts = first.decode("ascii", errors="replace").strip().split("-", 2)
    if len(parts) != 3 or parts[0] != "TRT":
        return cache
    return f"TRT-{version_tag(version)}-{parts[2]}".encode("ascii") + newline + rest


def calibrator_kind(method: CalibrationMethod, cache: bytes | None, *, dla: bool) -> CalibratorKind:
    """Which calibrator implements ``method``: the target first, then the cache's header, then
    the method (see the module docstring)."""
    if dla:
        _check_dla(method, cache)
    if cache:
        algorithm = cache_algorithm(cache)
        for kind in CalibratorKind:
            if algorithm == kind.value:
                return kind
        raise UserError(f"the calibration cache was written by '{algorithm}', which this "
                        "backend does not read (use an entropy or minmax cache)",
                        key="calibration")
    if method is CalibrationMethod.PERCENTILE:
        raise UserError("TensorRT has no percentile calibrator; use method: entropy, or give "
                        "the engine a Q/DQ model quantized with percentile ranges",
                        key="calibration.method")
    return CalibratorKind.MINMAX if method is CalibrationMethod.MINMAX else CalibratorKind.ENTROPY2


def _check_dla(method: CalibrationMethod, cache: bytes | None) -> None:
    """Refuse what would give a DLA another calibrator than ``IInt8EntropyCalibrator2``."""
    if method is CalibrationMethod.MINMAX:
        raise UserError("a DLA takes INT8 scales only from IInt8EntropyCalibrator2, not "
                        "minmax; set calibration.method: entropy, or target.device: gpu",
                        key="calibration.method")
    algorithm = cache_algorithm(cache) if cache else CalibratorKind.ENTROPY2.value
    if algorithm != CalibratorKind.ENTROPY2.value:
        raise UserError(f"the calibration cache was written by '{algorithm}' and a DLA reads "
                        "only EntropyCalibration2 caches; set calibration.method: entropy so "
                        "the cache is computed again", key="calibration")


class CalibrationBatches:
    """Feeds -> batches of exactly the calibration shape, per input, in the order asked.

    Feeds may carry fewer rows than a batch (they are concatenated) or more (they are split);
    a final partial batch is dropped, since TensorRT calibrates at one fixed shape.
    """

    def __init__(self, feeds: CalibrationFeeds, inputs: Mapping[str, CalibrationInput]) -> None:
        self._inputs = dict(inputs)
        self._rows = {name: spec.shape[0] if spec.shape else 1 for name, spec in inputs.items()}
        self._feeds: Iterator[Mapping[str, npt.NDArray[Any]]] = iter(feeds)
        self._pending: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in inputs}
        self.batches = 0

    @property
    def batch_size(self) -> int:
        return min(self._rows.values(), default=1)

    def next_batch(self, names: Sequence[str]) -> list[npt.NDArray[Any]] | None:
        """The next batch as contiguous arrays in the order of ``names``; None when exhausted."""
        unknown = [n for n in names if n not in self._inputs]
        if unknown:
            raise ValueError(f"TensorRT asked for inputs {unknown} the calibrator was not given")
        while any(self._held(name) < self._rows[name] for name in self._inputs):
            feed = next(self._feeds, None)
            if feed is None:
                return None
            self._add(feed)
        batch = {name: self._take(name) for name in self._inputs}
        self.batches += 1
        return [batch[name] for name in names]

    def _held(self, name: str) -> int:
        return sum(int(a.shape[0]) for a in self._pending[name])

    def _add(self, feed: Mapping[str, npt.NDArray[Any]]) -> None:
        missing = sorted(set(self._inputs) - set(feed))
        if missing:
            raise UserError(f"calibration data has no input {missing} (it has {sorted(feed)})",
                            key="calibration.data")
        for name, spec in self._inputs.items():
            array = np.asarray(feed[name])
            if array.dtype != spec.dtype:
                raise UserError(f"calibration input '{name}' is {array.dtype}, the engine "
                                f"takes {spec.dtype}", key="calibration.data")
            if array.ndim != len(spec.shape) or tuple(array.shape[1:]) != spec.shape[1:]:
                raise UserError(f"calibration input '{name}' has shape {list(array.shape)}, "
                                f"the engine calibrates at {list(spec.shape)}",
                                key="calibration.data")
            self._pending[name].append(array)

    def _take(self, name: str) -> npt.NDArray[Any]:
        rows = self._rows[name]
        joined = np.concatenate(self._pending[name], axis=0)
        batch, rest = joined[:rows], joined[rows:]
        self._pending[name] = [rest] if len(rest) else []
        return np.ascontiguousarray(batch)


class DeviceBatches:
    """:class:`CalibrationBatches` copied to device buffers: ``pointers(names)`` is what
    ``get_batch`` returns (``[]`` when exhausted, which TensorRT reads as the end)."""

    def __init__(self, batches: CalibrationBatches, cuda: CudaApi) -> None:
        self._batches = batches
        self._cuda = cuda
        self._buffers = DeviceBuffers(cuda)
        self._stream: int | None = None

    def pointers(self, names: Sequence[str]) -> list[int]:
        arrays = self._batches.next_batch(names)
        if arrays is None:
            if self._batches.batches == 0:
                LOG.warning("calibration data yielded no complete batch")
            self.close()
            return []
        if self._stream is None:
            self._stream = self._cuda.stream_create()
        pointers = []
        for name, array in zip(names, arrays, strict=True):
            pointer = self._buffers.ensure(name, nbytes(array.shape, array.dtype))
            self._cuda.copy_htod_async(pointer, array, self._stream)
            pointers.append(pointer)
        self._cuda.stream_synchronize(self._stream)  # TensorRT reads them on its own stream
        return pointers

    def close(self) -> None:
        self._buffers.free_all()
        if self._stream is not None:
            self._cuda.stream_destroy(self._stream)
            self._stream = None


class CalibratorSource:
    """What both TensorRT calibrator subclasses delegate to (plain Python, tested without
    TensorRT): the batches, the batch size and the cache in and out. Each answer is computed
    under ``errors``: an exception is kept for the builder to re-raise, and TensorRT is told
    "no more batches" (the wrapper would swallow it, see :mod:`.callbacks`); after one, no
    cache is written, since TensorRT would hand back scales from a calibration cut short."""

    def __init__(self, device: DeviceBatches | None, batch_size: int, cache_in: bytes | None,
                 on_cache: Callable[[bytes], None], errors: CallbackErrors) -> None:
        self.device = device
        self.batch_size = batch_size
        self.cache_in = cache_in
        self.on_cache = on_cache
        self.errors = errors

    def get_batch(self, names: Sequence[str]) -> list[int]:
        device = self.device
        if device is None:
            return []
        none: list[int] = []  # false in C++: no more batches
        pointers = self.errors.call("get_batch", lambda: device.pointers(names), none)
        if self.errors.failed:
            device.close()  # exhausted batches close themselves; a failure leaves buffers
        return pointers

    def read_cache(self) -> bytes | None:
        """The cache to calibrate from, or None to calibrate from the feeds."""
        return self.errors.call("read_calibration_cache", lambda: self.cache_in or None, None)

    def write_cache(self, cache: Buffer) -> None:
        self.errors.call("write_calibration_cache", lambda: self.on_cache(bytes(cache)), None)


class CalibratorMethods:
    """The body both TensorRT calibrator subclasses share: each answers TensorRT from its
    :class:`CalibratorSource`. Mixed in before the TensorRT base (so these methods are the
    overrides TensorRT calls); the subclass's ``__init__`` calls that base's ``__init__``
    explicitly (a pybind11 class needs it, and ``super()`` is unreliable across pybind11
    multiple inheritance), then sets ``_source``."""

    _source: CalibratorSource

    def get_batch_size(self) -> int:
        return self._source.batch_size

    def get_batch(self, names: list[str]) -> list[int]:
        return self._source.get_batch(names)

    # TensorRT documents None as "no cache: calibrate" (the stubs' Buffer type does not
    # resolve, so mypy accepts the Optional here).
    def read_calibration_cache(self) -> bytes | None:
        return self._source.read_cache()

    def write_calibration_cache(self, cache: Buffer) -> None:
        self._source.write_cache(cache)


def make_calibrator(method: CalibrationMethod, feeds: CalibrationFeeds | None, batch_size: int,
                    cache_in: bytes | None, on_cache: Callable[[bytes], None], *,
                    inputs: Mapping[str, CalibrationInput], cuda: CudaApi | None,
                    errors: CallbackErrors, dla: bool = False) -> tensorrt.IInt8Calibrator:
    """A TensorRT INT8 calibrator (TensorRT 8.4 - 10.x) over ``feeds`` and/or ``cache_in``.

    ``batch_size`` is what ``get_batch_size`` reports (TensorRT ignores it for explicit-batch
    networks, where the calibration profile's shape rules); ``on_cache`` receives the cache
    TensorRT writes. With a cache and no feeds, TensorRT reads the cache and never asks for a
    batch; ``cuda`` is needed only when there are feeds. What the callbacks raise is kept in
    ``errors``, for the caller to re-raise when ``build_serialized_network`` has returned
    (:meth:`.CallbackErrors.raise_first`). The two subclasses are spelled out
    (not one class over a base chosen at run time) so that mypy checks both against the stubs;
    both take their methods from :class:`CalibratorMethods`.
    """
    import tensorrt as trt

    kind = calibrator_kind(method, cache_in, dla=dla)
    if feeds is not None and cuda is None:
        raise ValueError("calibrating from feeds needs a CUDA api for the device buffers")
    device = DeviceBatches(CalibrationBatches(feeds, inputs), cuda) \
        if feeds is not None and cuda is not None else None
    source = CalibratorSource(device, batch_size, cache_in, on_cache, errors)

    class EntropyCalibrator2(CalibratorMethods, trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11: init the base explicitly
            self._source = source

    class MinMaxCalibrator(CalibratorMethods, trt.IInt8MinMaxCalibrator):
        def __init__(self) -> None:
            trt.IInt8MinMaxCalibrator.__init__(self)
            self._source = source

    if kind is CalibratorKind.MINMAX:
        return MinMaxCalibrator()
    return EntropyCalibrator2()
