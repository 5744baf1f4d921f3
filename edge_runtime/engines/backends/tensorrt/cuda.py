"""Device memory, streams, copies and events: the little of CUDA that TensorRT needs from us.

TensorRT takes raw device pointers and a stream handle; someone has to allocate, copy and wait.
Two Python bindings can, and a Jetson has one or the other:

- **cuda-python** (NVIDIA's; ``from cuda.bindings import runtime``, or ``from cuda import cudart``
  before cuda-python 12.6). Every call returns a tuple ``(err, value...)``; we check each one and
  raise a RuntimeError naming the call. It uses the CUDA runtime's primary context, the one
  TensorRT uses, in every thread.
- **pycuda** (the ``tensorrt`` extra's dependency). It raises on errors itself; we retain the
  device's primary context (not ``pycuda.autoinit``'s private one, which TensorRT would not
  share) and make it current around each call, because lanes call from their own threads.

Both release the GIL while a stream synchronises, so lanes run in parallel. The rest of the
backend sees only :class:`CudaApi`; tests use a stand-in with the same protocol. Handles are
plain ints (device pointers, ``cudaStream_t``, ``cudaEvent_t``), as TensorRT takes them.
Neither binding ships type information, so this module is the one place where their values are
``Any``; everything it returns is typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy.typing as npt

from edge_runtime.errors import MissingDependencyError, UserError
from edge_runtime.jetpack import for_cuda_major


@dataclass(frozen=True)
class DeviceInfo:
    """The GPU a plan is built for: a plan runs only on the compute capability it was built on."""

    name: str
    major: int
    minor: int

    @property
    def label(self) -> str:
        """``"Orin sm87"``: part of the engine cache key."""
        return f"{self.name} sm{self.major}{self.minor}"


class CudaApi(Protocol):
    """What the TensorRT backend needs from a CUDA binding."""

    binding: str

    def device(self) -> DeviceInfo: ...
    def malloc(self, nbytes: int) -> int: ...
    def free(self, ptr: int) -> None: ...
    def stream_create(self) -> int: ...
    def stream_destroy(self, stream: int) -> None: ...
    def stream_synchronize(self, stream: int) -> None: ...
    def copy_htod_async(self, dst: int, src: npt.NDArray[Any], stream: int) -> None: ...
    def copy_dtoh_async(self, dst: npt.NDArray[Any], src: int, stream: int) -> None: ...
    def event_create(self) -> int: ...
    def event_destroy(self, event: int) -> None: ...
    def event_record(self, event: int, stream: int) -> None: ...
    def event_elapsed_s(self, start: int, end: int) -> float:
        """Seconds between two recorded events (waits for ``end``)."""
        ...


def require_contiguous(array: npt.NDArray[Any], what: str) -> npt.NDArray[Any]:
    """Copies move raw bytes: a strided view would copy the wrong elements."""
    if not array.flags.c_contiguous:
        raise ValueError(f"{what} must be C-contiguous (use np.ascontiguousarray)")
    return array


def load_cuda_api() -> CudaApi:
    """cuda-python if present, else pycuda; MissingDependencyError if neither is installed."""
    runtime = _import_cudart()
    if runtime is not None:
        check_fits(runtime)
        return CudaPythonApi(runtime)
    try:
        from pycuda import driver
    except ImportError:
        raise MissingDependencyError(
            "a CUDA Python binding (cuda-python or pycuda)", "tensorrt",
            "the TensorRT backend copies tensors to the GPU through one of them") from None
    return PyCudaApi(driver)


def _import_cudart() -> Any:
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart as runtime  # older cuda-python
        except ImportError:
            return None
    return runtime


def check_fits(runtime: Any) -> None:
    """Refuse a cuda-python built for a newer CUDA than the driver runs (cuda-python 13 links
    the CUDA 13 runtime; JetPack 6's driver is CUDA 12), naming the pin from the JetPack table.
    Without a driver (a host with no GPU) there is nothing to compare: calls fail later, named."""
    driver = _version(runtime, "cudaDriverGetVersion")
    linked = _version(runtime, "cudaRuntimeGetVersion")
    if not driver or not linked or linked // 1000 <= driver // 1000:
        return
    release = for_cuda_major(driver // 1000)
    pin = f"pip install '{release.cuda_python}' (JetPack {release.jetpack})" if release \
        else "install the cuda-python of this CUDA"
    raise UserError(f"cuda-python links the CUDA {_dotted(linked)} runtime but the driver runs "
                    f"CUDA {_dotted(driver)}: {pin}", key="cuda-python")


def _version(runtime: Any, call: str) -> int:
    err, version = getattr(runtime, call)()
    return int(version) if err == runtime.cudaError_t.cudaSuccess else 0


def _dotted(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def handle(value: Any) -> int:
    """The address in a ``cudaStream_t`` / ``cudaEvent_t``: ``getPtr()`` (``int()`` on them is
    deprecated in cuda-bindings 13); a plain int (``cudaMalloc``'s pointer) as it is."""
    get_ptr = getattr(value, "getPtr", None)
    return int(get_ptr()) if callable(get_ptr) else int(value)


class CudaPythonApi:
    """:class:`CudaApi` over cuda-python's runtime module (``cudart``)."""

    binding = "cuda-python"

    def __init__(self, cudart: Any) -> None:
        self._rt = cudart

    def _call(self, name: str, *args: Any) -> Any:
        """Call ``cudart.<name>(*args)``; raise unless it returned cudaSuccess; the value(s)."""
        result = getattr(self._rt, name)(*args)
        err, values = result[0], result[1:]
        if err != self._rt.cudaError_t.cudaSuccess:
            raise RuntimeError(f"CUDA call {name} failed: {self._error_name(err)}")
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def _error_name(self, err: Any) -> str:
        try:
            name_err, name = self._rt.cudaGetErrorName(err)
        except Exception:
            return str(err)
        if name_err != self._rt.cudaError_t.cudaSuccess:
            return str(err)
        return name.decode() if isinstance(name, bytes) else str(name)

    def device(self) -> DeviceInfo:
        props = self._call("cudaGetDeviceProperties", int(self._call("cudaGetDevice")))
        raw = props.name
        name = bytes(raw).split(b"\0")[0].decode() if isinstance(raw, bytes | bytearray) \
            else str(raw)
        return DeviceInfo(name.strip(), int(props.major), int(props.minor))

    def malloc(self, nbytes: int) -> int:
        return int(self._call("cudaMalloc", max(nbytes, 1)))

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ptr)

    def stream_create(self) -> int:
        return handle(self._call("cudaStreamCreate"))

    def stream_destroy(self, stream: int) -> None:
        self._call("cudaStreamDestroy", stream)

    def stream_synchronize(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", stream)

    def copy_htod_async(self, dst: int, src: npt.NDArray[Any], stream: int) -> None:
        require_contiguous(src, "a host array copied to the device")
        self._call("cudaMemcpyAsync", dst, src.ctypes.data, src.nbytes,
                   self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream)

    def copy_dtoh_async(self, dst: npt.NDArray[Any], src: int, stream: int) -> None:
        require_contiguous(dst, "a host array copied from the device")
        self._call("cudaMemcpyAsync", dst.ctypes.data, src, dst.nbytes,
                   self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream)

    def event_create(self) -> int:
        return handle(self._call("cudaEventCreate"))

    def event_destroy(self, event: int) -> None:
        self._call("cudaEventDestroy", event)

    def event_record(self, event: int, stream: int) -> None:
        self._call("cudaEventRecord", event, stream)

    def event_elapsed_s(self, start: int, end: int) -> float:
        self._call("cudaEventSynchronize", end)
        return float(self._call("cudaEventElapsedTime", start, end)) / 1e3


class PyCudaApi:
    """:class:`CudaApi` over pycuda's driver module, on the device's primary context."""

    binding = "pycuda"

    def __init__(self, driver: Any, ordinal: int = 0) -> None:
        self._drv = driver
        driver.init()
        self._device = driver.Device(ordinal)
        self._context = self._device.retain_primary_context()
        self._objects: dict[int, Any] = {}  # handle -> pycuda object kept alive until freed

    def _enter(self) -> None:
        self._context.push()

    def _exit(self) -> None:
        self._drv.Context.pop()

    def _keep(self, obj: Any, handle: int) -> int:
        self._objects[handle] = obj
        return handle

    def device(self) -> DeviceInfo:
        major, minor = self._device.compute_capability()
        return DeviceInfo(str(self._device.name()).strip(), int(major), int(minor))

    def malloc(self, nbytes: int) -> int:
        self._enter()
        try:
            allocation = self._drv.mem_alloc(max(nbytes, 1))
        finally:
            self._exit()
        return self._keep(allocation, int(allocation))

    def free(self, ptr: int) -> None:
        self._enter()
        try:
            self._objects.pop(ptr).free()
        finally:
            self._exit()

    def stream_create(self) -> int:
        self._enter()
        try:
            stream = self._drv.Stream()
        finally:
            self._exit()
        return self._keep(stream, int(stream.handle))

    def stream_destroy(self, stream: int) -> None:
        self._objects.pop(stream, None)

    def stream_synchronize(self, stream: int) -> None:
        self._enter()
        try:
            self._objects[stream].synchronize()
        finally:
            self._exit()

    def copy_htod_async(self, dst: int, src: npt.NDArray[Any], stream: int) -> None:
        require_contiguous(src, "a host array copied to the device")
        self._enter()
        try:
            self._drv.memcpy_htod_async(dst, src, self._objects[stream])
        finally:
            self._exit()

    def copy_dtoh_async(self, dst: npt.NDArray[Any], src: int, stream: int) -> None:
        require_contiguous(dst, "a host array copied from the device")
        self._enter()
        try:
            self._drv.memcpy_dtoh_async(dst, src, self._objects[stream])
        finally:
            self._exit()

    def event_create(self) -> int:
        self._enter()
        try:
            event = self._drv.Event()
        finally:
            self._exit()
        return self._keep(event, id(event))

    def event_destroy(self, event: int) -> None:
        self._objects.pop(event, None)

    def event_record(self, event: int, stream: int) -> None:
        self._enter()
        try:
            self._objects[event].record(self._objects[stream])
        finally:
            self._exit()

    def event_elapsed_s(self, start: int, end: int) -> float:
        self._enter()
        try:
            self._objects[end].synchronize()
            return float(self._objects[end].time_since(self._objects[start])) / 1e3
        finally:
            self._exit()
