"""Tensor specs: the name, shape and element type of an engine input or output."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from onnx import TensorProto, ValueInfoProto, helper
from pydantic import BaseModel, ConfigDict

Dim = int | str
#: Named tensors into an engine (one frame, or one calibration batch).
Feed = Mapping[str, npt.NDArray[np.generic]]
#: Named tensors out of an engine.
Outputs = Mapping[str, npt.NDArray[np.generic]]


class TensorSpec(BaseModel):
    """One input or output. A string dimension is dynamic (its symbolic name)."""

    model_config = ConfigDict(frozen=True)

    name: str
    shape: list[Dim]
    dtype: str

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) and d > 0 for d in self.shape)

    def concrete_shape(self) -> list[int]:
        """The shape with every dynamic dimension taken as 1 (a batch of one, a minimal size)."""
        return [d if isinstance(d, int) else 1 for d in self.shape]

    @property
    def numpy_dtype(self) -> np.dtype[np.generic]:
        return np.dtype(self.dtype)

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


def spec_from_value_info(value: ValueInfoProto) -> TensorSpec:
    """A TensorSpec from an ONNX graph input or output."""
    tensor_type = value.type.tensor_type
    shape: list[Dim] = []
    for index, dim in enumerate(tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            shape.append(int(dim.dim_value))
        else:
            shape.append(dim.dim_param or f"dim{index}")
    elem = tensor_type.elem_type or TensorProto.FLOAT
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem)).name
    return TensorSpec(name=value.name, shape=shape, dtype=dtype)
