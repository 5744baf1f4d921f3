"""Stand-in for the CUDA bindings: :class:`FakeCuda` implements ``CudaApi`` over host memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edge_runtime.engines.backends.tensorrt.cuda import DeviceInfo


class FakeCuda:
    """:class:`CudaApi` over host bytearrays; every call is logged in ``calls``."""

    binding = "fake"

    def __init__(self) -> None:
        self.memory: dict[int, bytearray] = {}
        self.calls: list[str] = []
        self._next = 0x1000
        self.streams: set[int] = set()
        self.events: set[int] = set()

    def _handle(self) -> int:
        self._next += 0x1000
        return self._next

    def device(self) -> DeviceInfo:
        return DeviceInfo("Orin", 8, 7)

    def malloc(self, nbytes: int) -> int:
        ptr = self._handle()
        self.memory[ptr] = bytearray(nbytes)
        self.calls.append(f"malloc {nbytes}")
        return ptr

    def free(self, ptr: int) -> None:
        del self.memory[ptr]  # KeyError on a double free
        self.calls.append("free")

    def stream_create(self) -> int:
        handle = self._handle()
        self.streams.add(handle)
        return handle

    def stream_destroy(self, stream: int) -> None:
        self.streams.remove(stream)

    def stream_synchronize(self, stream: int) -> None:
        assert stream in self.streams
        self.calls.append("sync")

    def copy_htod_async(self, dst: int, src: npt.NDArray[Any], stream: int) -> None:
        data = src.tobytes()
        assert len(data) <= len(self.memory[dst]), "H2D copy overflows the device buffer"
        self.memory[dst][:len(data)] = data
        self.calls.append("h2d")

    def copy_dtoh_async(self, dst: npt.NDArray[Any], src: int, stream: int) -> None:
        raw = bytes(self.memory[src][:dst.nbytes])
        dst[...] = np.frombuffer(raw, dtype=dst.dtype).reshape(dst.shape)
        self.calls.append("d2h")

    def event_create(self) -> int:
        handle = self._handle()
        self.events.add(handle)
        return handle

    def event_destroy(self, event: int) -> None:
        self.events.remove(event)

    def event_record(self, event: int, stream: int) -> None:
        self.calls.append("event")

    def event_elapsed_s(self, start: int, end: int) -> float:
        return 0.0025

    def read(self, ptr: int, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
        data = np.frombuffer(bytes(self.memory[ptr]), dtype=dtype)
        return data[:int(np.prod(shape))].reshape(shape)
