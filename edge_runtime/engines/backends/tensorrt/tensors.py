"""An engine's inputs and outputs, through whichever I/O API this TensorRT has.

TensorRT 8.5.1 replaced *bindings* (an index per tensor, shapes via ``set_binding_shape``, a
pointer list for ``execute_async_v2``) with *named tensors* (``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``); 10.0 removed bindings. :class:`NamedTensorIO`
and :class:`BindingIO` put both behind one small :class:`EngineIO` interface, so the runner has
a single code path. The 10.x stubs no longer describe the bindings API, so :class:`BindingIO`
reaches it through the protocols below, written from the TensorRT 8.4/8.5 Python API reference.

:class:`DeviceBuffers` holds one device allocation per tensor, sized from the current shape and
dtype and grown (never shrunk) when a larger dynamic shape arrives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from edge_runtime.engines.backends.tensorrt.cuda import CudaApi
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion

if TYPE_CHECKING:
    import tensorrt

#: TensorRT ``DataType`` member name -> numpy dtype (BF16 and FP8 have no numpy type).
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "FLOAT": np.dtype(np.float32),
    "HALF": np.dtype(np.float16),
    "INT8": np.dtype(np.int8),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}

Shape = tuple[int, ...]


def numpy_dtype(type_name: str) -> np.dtype[Any]:
    """The numpy dtype of a TensorRT ``DataType`` name (``trt.nptype`` is untyped in the stubs,
    and raises a bare TypeError for types without a numpy equivalent)."""
    try:
        return NUMPY_DTYPES[type_name]
    except KeyError:
        raise TypeError(f"TensorRT type {type_name} has no numpy equivalent; this runner "
                        "cannot exchange it with the host") from None


def nbytes(shape: Sequence[int], dtype: np.dtype[Any]) -> int:
    """Bytes of a tensor of ``shape`` and ``dtype`` (shape must be fully known)."""
    if any(d < 0 for d in shape):
        raise ValueError(f"shape {list(shape)} is not fully known")
    return math.prod(shape) * dtype.itemsize


def dims_tuple(dims: tensorrt.Dims) -> Shape:
    """A ``trt.Dims`` as a tuple (-1 marks a dynamic dimension)."""
    return tuple(int(dims[i]) for i in range(len(dims)))


@dataclass(frozen=True)
class TensorSlot:
    """One engine I/O tensor."""

    name: str
    is_input: bool
    dtype: np.dtype[Any]
    #: The engine's shape: -1 where a dimension is dynamic.
    shape: Shape

    @property
    def is_dynamic(self) -> bool:
        return any(d < 0 for d in self.shape)


class EngineIO(Protocol):
    """The runner's view of an engine's tensors, whichever API drives them."""

    slots: list[TensorSlot]

    def set_input_shape(self, name: str, shape: Shape) -> None: ...
    def shape(self, name: str) -> Shape: ...
    def execute(self, addresses: Mapping[str, int], stream: int) -> None: ...


class NamedTensorIO:
    """TensorRT >= 8.5.1: named tensors and ``execute_async_v3``."""

    def __init__(self, engine: tensorrt.ICudaEngine,
                 context: tensorrt.IExecutionContext) -> None:
        import tensorrt as trt

        self._context = context
        self.slots = []
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            self.slots.append(TensorSlot(
                name=name,
                is_input=engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                dtype=numpy_dtype(engine.get_tensor_dtype(name).name),
                shape=dims_tuple(engine.get_tensor_shape(name))))

    def set_input_shape(self, name: str, shape: Shape) -> None:
        if not self._context.set_input_shape(name, shape):
            raise ValueError(f"TensorRT rejected shape {list(shape)} for input '{name}' "
                             "(outside the engine's optimisation profile?)")

    def shape(self, name: str) -> Shape:
        return dims_tuple(self._context.get_tensor_shape(name))

    def execute(self, addresses: Mapping[str, int], stream: int) -> None:
        for name, address in addresses.items():
            if not self._context.set_tensor_address(name, address):
                raise RuntimeError(f"TensorRT rejected the device address of '{name}'")
        if not self._context.execute_async_v3(stream):
            raise RuntimeError("execute_async_v3 failed; see the TensorRT log")


class LegacyEngine(Protocol):
    """``ICudaEngine``'s bindings API, TensorRT 8.x (removed in 10.0)."""

    @property
    def num_bindings(self) -> int: ...
    @property
    def num_optimization_profiles(self) -> int: ...
    def get_binding_name(self, index: int) -> str: ...
    def binding_is_input(self, index: int) -> bool: ...
    def get_binding_dtype(self, index: int) -> tensorrt.DataType: ...
    def get_binding_shape(self, index: int) -> tensorrt.Dims: ...


class LegacyContext(Protocol):
    """``IExecutionContext``'s bindings API, TensorRT 8.x (removed in 10.0)."""

    def set_binding_shape(self, binding: int, shape: Shape) -> bool: ...
    def get_binding_shape(self, binding: int) -> tensorrt.Dims: ...
    def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool: ...


class BindingIO:
    """TensorRT 8.4 - 8.5.0: binding indices and ``execute_async_v2``."""

    def __init__(self, engine: LegacyEngine, context: LegacyContext) -> None:
        if engine.num_optimization_profiles > 1:
            raise ValueError("engines built by edge-runtime have one optimisation profile")
        self._context = context
        self._index: dict[str, int] = {}
        self.slots = []
        for index in range(engine.num_bindings):
            name = engine.get_binding_name(index)
            self._index[name] = index
            self.slots.append(TensorSlot(
                name=name, is_input=engine.binding_is_input(index),
                dtype=numpy_dtype(engine.get_binding_dtype(index).name),
                shape=dims_tuple(engine.get_binding_shape(index))))

    def set_input_shape(self, name: str, shape: Shape) -> None:
        if not self._context.set_binding_shape(self._index[name], shape):
            raise ValueError(f"TensorRT rejected shape {list(shape)} for input '{name}' "
                             "(outside the engine's optimisation profile?)")

    def shape(self, name: str) -> Shape:
        return dims_tuple(self._context.get_binding_shape(self._index[name]))

    def execute(self, addresses: Mapping[str, int], stream: int) -> None:
        bindings = [addresses[slot.name] for slot in self.slots]
        if not self._context.execute_async_v2(bindings, stream):
            raise RuntimeError("execute_async_v2 failed; see the TensorRT log")


def make_engine_io(version: TrtVersion, engine: tensorrt.ICudaEngine,
                   context: tensorrt.IExecutionContext) -> EngineIO:
    """The I/O adapter for this TensorRT (see :attr:`TrtVersion.has_named_tensor_io`)."""
    if version.has_named_tensor_io:
        return NamedTensorIO(engine, context)
    # TensorRT 8.4 / 8.5.0: the objects have the bindings API the 10.x stubs no longer list.
    return BindingIO(cast(LegacyEngine, engine), cast(LegacyContext, context))


class DeviceBuffers:
    """One device allocation per tensor name, grown on demand, freed together."""

    def __init__(self, cuda: CudaApi) -> None:
        self._cuda = cuda
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (pointer, capacity in bytes)

    def ensure(self, name: str, size: int) -> int:
        """A device pointer to at least ``size`` bytes for ``name``."""
        held = self._buffers.get(name)
        if held is not None and held[1] >= size:
            return held[0]
        if held is not None:
            self._cuda.free(held[0])
            del self._buffers[name]
        pointer = self._cuda.malloc(size)
        self._buffers[name] = (pointer, size)
        return pointer

    def capacity(self, name: str) -> int:
        return self._buffers.get(name, (0, 0))[1]

    def free_all(self) -> None:
        buffers, self._buffers = self._buffers, {}
        for pointer, _ in buffers.values():
            self._cuda.free(pointer)
