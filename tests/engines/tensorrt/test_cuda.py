"""The CUDA layer: both bindings behind CudaApi, each return code checked, errors named."""

from __future__ import annotations

import enum
import sys
import types
import warnings
from typing import Any

import numpy as np
import pytest

from edge_runtime.engines.backends.tensorrt.cuda import (
    CudaPythonApi,
    DeviceInfo,
    PyCudaApi,
    check_fits,
    handle,
    load_cuda_api,
    require_contiguous,
)
from edge_runtime.errors import MissingDependencyError, UserError


class Err(enum.Enum):
    cudaSuccess = 0  # noqa: N815 - cuda-python's names
    cudaErrorMemoryAllocation = 2  # noqa: N815


def fake_cudart(fail: set[str] | None = None, *, driver: int = 12060,
                linked: int = 12090) -> types.SimpleNamespace:
    """A cuda-python ``runtime`` stand-in: every call returns ``(err, value...)``."""
    failing = fail or set()
    memory: dict[int, bytearray] = {}

    def call(name: str, *values: Any) -> Any:
        def function(*args: Any) -> tuple[Any, ...]:
            if name in failing:
                return (Err.cudaErrorMemoryAllocation, None)[:1 + len(values)]
            return (Err.cudaSuccess, *values)
        return function

    props = types.SimpleNamespace(name=b"Orin\0\0\0", major=8, minor=7)
    return types.SimpleNamespace(
        cudaError_t=Err, memory=memory,
        cudaMemcpyKind=types.SimpleNamespace(cudaMemcpyHostToDevice=1,
                                             cudaMemcpyDeviceToHost=2),
        cudaGetErrorName=lambda err: (Err.cudaSuccess, err.name.encode()),
        cudaGetDevice=call("cudaGetDevice", 0),
        cudaGetDeviceProperties=call("cudaGetDeviceProperties", props),
        cudaMalloc=call("cudaMalloc", 0x7000),
        cudaFree=call("cudaFree"),
        cudaStreamCreate=call("cudaStreamCreate", 0x51),
        cudaStreamSynchronize=call("cudaStreamSynchronize"),
        cudaMemcpyAsync=call("cudaMemcpyAsync"),
        cudaEventCreate=call("cudaEventCreate", 0xE1),
        cudaEventRecord=call("cudaEventRecord"),
        cudaEventSynchronize=call("cudaEventSynchronize"),
        cudaEventElapsedTime=call("cudaEventElapsedTime", 2.5),
        cudaDriverGetVersion=call("cudaDriverGetVersion", driver),
        cudaRuntimeGetVersion=call("cudaRuntimeGetVersion", linked),
    )


def test_cuda_python_values_and_device_label() -> None:
    api = CudaPythonApi(fake_cudart())
    assert api.device() == DeviceInfo("Orin", 8, 7) and api.device().label == "Orin sm87"
    assert api.malloc(64) == 0x7000 and api.stream_create() == 0x51
    assert api.event_elapsed_s(api.event_create(), api.event_create()) == pytest.approx(0.0025)
    api.copy_htod_async(0x7000, np.zeros(4, np.float32), 0x51)


def test_cuda_python_errors_name_the_call_and_the_error() -> None:
    api = CudaPythonApi(fake_cudart(fail={"cudaMalloc", "cudaStreamSynchronize"}))
    with pytest.raises(RuntimeError, match="CUDA call cudaMalloc failed: "
                                           "cudaErrorMemoryAllocation"):
        api.malloc(1 << 40)
    with pytest.raises(RuntimeError, match="cudaStreamSynchronize failed"):
        api.stream_synchronize(0x51)


def test_copies_refuse_strided_arrays() -> None:
    api = CudaPythonApi(fake_cudart())
    strided = np.zeros((4, 4), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        api.copy_htod_async(0x7000, strided, 0x51)
    assert require_contiguous(np.zeros(3), "x").shape == (3,)


class FakeDriver:
    """pycuda.driver stand-in: objects with handles; records context pushes."""

    def __init__(self) -> None:
        self.pushed = 0
        self.freed = 0
        driver = self

        class Context:
            @staticmethod
            def pop() -> None:
                driver.pushed -= 1

        class Primary:
            def push(self) -> None:
                driver.pushed += 1

        class Device:
            def __init__(self, ordinal: int) -> None: ...
            def retain_primary_context(self) -> Primary:
                return Primary()
            def name(self) -> str:
                return "Orin"
            def compute_capability(self) -> tuple[int, int]:
                return (8, 7)

        class Allocation:
            def __int__(self) -> int:
                return 0x9000

            def free(self) -> None:
                driver.freed += 1

        class Stream:
            handle = 0x52

            def synchronize(self) -> None:
                assert driver.pushed == 1, "pycuda calls need the context current"

        class Event:
            def record(self, stream: Stream) -> None: ...
            def synchronize(self) -> None: ...
            def time_since(self, start: Event) -> float:
                return 4.0

        self.Context, self.Device, self.Stream, self.Event = Context, Device, Stream, Event
        self.mem_alloc = lambda nbytes: Allocation()
        self.copies: list[str] = []
        self.memcpy_htod_async = lambda dst, src, stream: self.copies.append("h2d")
        self.memcpy_dtoh_async = lambda dst, src, stream: self.copies.append("d2h")

    def init(self) -> None: ...


def test_pycuda_uses_the_primary_context_around_each_call() -> None:
    driver = FakeDriver()
    api = PyCudaApi(driver)
    assert api.device().label == "Orin sm87"
    ptr, stream = api.malloc(16), api.stream_create()
    api.copy_htod_async(ptr, np.zeros(4, np.float32), stream)
    api.copy_dtoh_async(np.zeros(4, np.float32), ptr, stream)
    api.stream_synchronize(stream)
    start, end = api.event_create(), api.event_create()
    api.event_record(start, stream)
    assert api.event_elapsed_s(start, end) == pytest.approx(0.004)
    api.free(ptr)
    assert driver.pushed == 0 and driver.freed == 1 and driver.copies == ["h2d", "d2h"]


def test_no_cuda_binding_is_a_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "pycuda", "pycuda.driver"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match="cuda-python or pycuda"):
        load_cuda_api()


def test_cuda_python_is_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = fake_cudart()
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = runtime  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", runtime)
    assert load_cuda_api().binding == "cuda-python"


def test_real_cuda_python_without_a_gpu_names_the_failing_call() -> None:
    """Against the real cuda-python (a dev dependency): with no GPU or driver, the first call
    fails and the error names it and CUDA's error; with a GPU, the round trip works."""
    from cuda.bindings import runtime
    api = CudaPythonApi(runtime)
    try:
        pointer = api.malloc(16)
    except RuntimeError as exc:
        assert str(exc).startswith("CUDA call cudaMalloc failed: cudaError")
    else:  # a GPU after all: the round trip works
        data = np.arange(4, dtype=np.float32)
        stream = api.stream_create()
        api.copy_htod_async(pointer, data, stream)
        back = np.zeros_like(data)
        api.copy_dtoh_async(back, pointer, stream)
        api.stream_synchronize(stream)
        np.testing.assert_array_equal(back, data)
        api.free(pointer)
        api.stream_destroy(stream)


def test_a_cuda_python_newer_than_the_driver_names_the_pin() -> None:
    """cuda-python 13 links the CUDA 13 runtime, which JetPack 6's CUDA 12.6 driver cannot run."""
    with pytest.raises(UserError, match=r"links the CUDA 13.0 runtime but the driver runs CUDA "
                                        r"12.6: pip install 'cuda-python>=12.2,<12.9.11'"):
        check_fits(fake_cudart(driver=12060, linked=13000))
    check_fits(fake_cudart(driver=12060, linked=12090))  # minor versions are compatible
    check_fits(fake_cudart(driver=0, linked=13000))  # no driver: nothing to compare


def test_stream_and_event_handles_without_int() -> None:
    """``int()`` on cudaStream_t / cudaEvent_t is deprecated in cuda-bindings 13: getPtr()."""
    from cuda.bindings import runtime
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stream, event = runtime.cudaStream_t(), runtime.cudaEvent_t()
        assert handle(stream) == stream.getPtr() and handle(event) == event.getPtr()
    assert handle(0x7000) == 0x7000
