"""A finished frame as a typed value: :class:`Output`.

Every frame a pipeline finishes becomes an Output: which frame (with the host's stamp and frame
id carried unchanged), how late, and the decoded result as a typed object. Sinks, the runtime's
subscribers and the ROS 2 messages are all built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_runtime.pipelines.postprocess import Result


@dataclass(frozen=True)
class RawTensors:
    """Undecoded engine outputs (a pipeline without a postprocess stage)."""

    tensors: Mapping[str, npt.NDArray[np.generic]]

    def to_record(self) -> dict[str, object]:
        """Shapes and means, not megabytes of numbers."""
        summary: dict[str, object] = {}
        for name, value in self.tensors.items():
            array = np.asarray(value, dtype=np.float64)
            summary[name] = {"shape": list(array.shape),
                             "mean": round(float(array.mean()), 6) if array.size else None}
        return summary


@dataclass(frozen=True)
class Output:
    """One finished frame of one pipeline."""

    pipeline: str
    frame_index: int
    #: The host's stamp and frame id of the input (pushed frames), unchanged; else None / "".
    stamp: float | None
    frame_id: str
    #: Capture and completion on the runtime's clock (seconds since activation).
    capture_time: float
    done_time: float
    deadline_missed: bool
    power_mode: str
    result: Result | RawTensors

    @property
    def latency_s(self) -> float:
        return self.done_time - self.capture_time

    def to_record(self) -> dict[str, Any]:
        """The JSON-lines form (one object per frame)."""
        record: dict[str, Any] = {
            "pipeline": self.pipeline,
            "frame": self.frame_index,
            "capture_ts": round(self.capture_time, 6),
            "latency_ms": round(self.latency_s * 1e3, 3),
            "power_mode": self.power_mode,
            "outputs": self.result.to_record(),
        }
        if self.stamp is not None:
            record["stamp"] = self.stamp
        if self.frame_id:
            record["frame_id"] = self.frame_id
        return record
