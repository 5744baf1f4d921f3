"""INT8 calibration: activation ranges from one pass of onnxruntime's calibrators.

onnxruntime's quantization tools do the work (``create_calibrator``: MinMax, Entropy and
Percentile differ only in how they reduce the activations they collect); this module feeds them
our samples, turns their ``TensorsData`` into a typed result that validates itself, and keeps it
so a second build with the same model and data skips calibration. One pass serves everything
downstream: the Q/DQ model, the TensorRT calibration cache, and every re-quantization the
accuracy gate tries.

Ranges are symmetric (-amax, +amax): TensorRT's INT8 is symmetric, with zero points fixed at 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import ModelProto

from edge_runtime.config.recipe import CalibrationMethod
from edge_runtime.errors import UserError
from edge_runtime.fileio import atomic_write_text, sha256_bytes
from edge_runtime.graph.tensors import Feed
from edge_runtime.optimize.data import common_shape, padded

#: Told (done, total) batches as calibration goes.
StepFn = Callable[[int, int], None]
RANGES_SCHEMA = 1


@dataclass(frozen=True)
class TensorRange:
    """The calibrated range of one activation tensor."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"invalid range [{self.low}, {self.high}]")

    @property
    def amax(self) -> float:
        return max(abs(self.low), abs(self.high))


@dataclass(frozen=True)
class ActivationRanges:
    """Ranges for every calibrated tensor, with what they were computed from."""

    method: CalibrationMethod
    ranges: Mapping[str, TensorRange]
    fingerprint: str
    samples: int

    def __post_init__(self) -> None:
        if not self.ranges:
            raise ValueError("calibration produced no ranges")

    def to_json(self) -> str:
        return json.dumps({
            "schema": RANGES_SCHEMA, "method": self.method.value, "fingerprint": self.fingerprint,
            "samples": self.samples,
            "ranges": {name: [r.low, r.high] for name, r in sorted(self.ranges.items())},
        }, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ActivationRanges:
        data = json.loads(text)
        if data.get("schema") != RANGES_SCHEMA:
            raise ValueError("not a ranges file of this version")
        return cls(CalibrationMethod(data["method"]),
                   {name: TensorRange(float(lo), float(hi))
                    for name, (lo, hi) in data["ranges"].items()},
                   str(data["fingerprint"]), int(data["samples"]))

    def tensors_data(self) -> Any:
        """onnxruntime's TensorsData for its quantizers."""
        from onnxruntime.quantization.calibrate import CalibrationMethod as OrtMethod
        from onnxruntime.quantization.calibrate import TensorData, TensorsData

        method = {CalibrationMethod.ENTROPY: OrtMethod.Entropy,
                  CalibrationMethod.PERCENTILE: OrtMethod.Percentile,
                  CalibrationMethod.MINMAX: OrtMethod.MinMax}[self.method]
        return TensorsData(method, {
            name: TensorData(lowest=np.float32(r.low), highest=np.float32(r.high))
            for name, r in self.ranges.items()})


def fingerprint(model: bytes, data: str, method: CalibrationMethod, percentile: float) -> str:
    """Identity of a calibration: same model, same data, same method => same ranges."""
    return sha256_bytes(json.dumps([sha256_bytes(model), data, method.value, percentile])
                        .encode())[:32]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over our feeds, reporting progress."""

    def __init__(self, feeds: Sequence[Feed], progress: StepFn | None) -> None:
        self._feeds = feeds
        self._iterator: Iterator[Feed] = iter(feeds)
        self._done = 0
        self._progress = progress

    def get_next(self) -> dict[str, Any] | None:
        feed = next(self._iterator, None)
        if feed is not None:
            self._done += 1
            if self._progress is not None:
                self._progress(self._done, len(self._feeds))
        return None if feed is None else dict(feed)

    def __len__(self) -> int:
        return len(self._feeds)


def _ort_method(method: CalibrationMethod, percentile: float) -> tuple[Any, dict[str, Any]]:
    from onnxruntime.quantization.calibrate import CalibrationMethod as OrtMethod

    if method is CalibrationMethod.ENTROPY:
        return OrtMethod.Entropy, {"symmetric": True}
    if method is CalibrationMethod.PERCENTILE:
        return OrtMethod.Percentile, {"symmetric": True, "percentile": percentile}
    return OrtMethod.MinMax, {"symmetric": True}


def calibrate(model: ModelProto, feeds: Sequence[Feed], method: CalibrationMethod,
              percentile: float, data_fingerprint: str, samples: int,
              progress: StepFn | None = None) -> ActivationRanges:
    """Run the model on ``feeds`` and reduce each activation to a symmetric range. Feeds may
    differ in shape (token batches padded to their own longest member)."""
    from onnxruntime.quantization.calibrate import create_calibrator

    ort_method, options = _ort_method(method, percentile)
    if method is not CalibrationMethod.MINMAX:
        feeds = one_shape(feeds)
    model_bytes = model.SerializeToString()
    with tempfile.TemporaryDirectory(prefix="edge-runtime-calib.") as scratch:
        path = Path(scratch) / "model.onnx"
        onnx.save(onnx.shape_inference.infer_shapes(model), path)
        try:
            # onnxruntime's histogram calibrators print() their progress: keep stdout ours.
            with contextlib.redirect_stdout(io.StringIO()):
                calibrator = create_calibrator(path, None, str(Path(scratch) / "augmented.onnx"),
                                               calibrate_method=ort_method,
                                               extra_options=options)
                calibrator.collect_data(_Reader(feeds, progress))
                computed = calibrator.compute_data()
        except (RuntimeError, ValueError) as exc:  # onnxruntime's own failures
            raise UserError(f"calibration failed in onnxruntime: {str(exc).splitlines()[0]}",
                            key="calibration") from None
    ranges = {}
    for name, data in computed.items():
        low, high = (float(np.min(v)) if i == 0 else float(np.max(v))
                     for i, v in enumerate(data.range_value))
        if math.isfinite(low) and math.isfinite(high):
            ranges[name] = TensorRange(min(low, high), max(low, high))
    return ActivationRanges(method, ranges,
                            fingerprint(model_bytes, data_fingerprint, method, percentile),
                            samples)


def one_shape(feeds: Sequence[Feed]) -> list[Feed]:
    """``feeds`` with each input zero-padded to its largest shape over all of them (pad id 0,
    mask 0: masked out, as in the runtime's batches). onnxruntime's histogram calibrators
    (entropy, percentile) stack every batch's activations into one array, which fails on
    batches of different lengths; MinMax reduces each batch alone and needs none of this."""
    names = {name for feed in feeds for name in feed}
    shapes = {name: common_shape([feed[name] for feed in feeds]) for name in names}
    return [{name: padded(value, shapes[name]) for name, value in feed.items()}
            for feed in feeds]


class RangesStore:
    """Calibrations kept by fingerprint, so a rebuild with the same model and data reuses them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / f"{key}.ranges.json"

    def load(self, key: str) -> ActivationRanges | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            ranges = ActivationRanges.from_json(path.read_text(encoding="utf-8"))
        except (ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # damaged: recalibrate
            return None
        return ranges if ranges.fingerprint == key else None

    def save(self, ranges: ActivationRanges) -> Path:
        path = self.path(ranges.fingerprint)
        atomic_write_text(path, ranges.to_json())
        return path
