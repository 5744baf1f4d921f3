"""The TensorRT runner: a plan deserialized on this GPU, one execution context, real inference.

``activate`` deserializes the plan (``Runtime.deserialize_cuda_engine``), creates this runner's
own execution context (several runners on one plan get one context each: a context holds the
per-inference state and must not be shared across threads), a CUDA stream and two events.
``infer`` then, on that stream: sets the shape of each dynamic input (every call: the batch may
change), sizes device buffers from the context's resulting shapes and the engine's dtypes,
copies inputs in, executes (``execute_async_v3`` on 8.5.1+, ``execute_async_v2`` with bindings
before; see :mod:`.tensors`), copies outputs out and waits. The wait releases the GIL, so lanes
run in parallel threads. ``last_device_time_s`` is the time between the events recorded before
the first copy and after the last: what the inference occupied its lane.

A plan serialized by one TensorRT release does not deserialize in another. The engine cache
key contains the version, so this normally cannot happen; when it does (a plan copied by hand,
an upgrade under a running service), the error says to rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge_runtime.engines.artifact import Artifact
from edge_runtime.engines.backends.tensorrt.cuda import CudaApi, load_cuda_api
from edge_runtime.engines.backends.tensorrt.logger import ErrorTail, capture_errors, shared_logger
from edge_runtime.engines.backends.tensorrt.network import Placement
from edge_runtime.engines.backends.tensorrt.tensors import (
    DeviceBuffers,
    EngineIO,
    TensorSlot,
    make_engine_io,
)
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion, tensorrt_version
from edge_runtime.engines.base import BaseRunner, RunnerError
from edge_runtime.errors import MissingDependencyError, UserError
from edge_runtime.graph.tensors import Feed, Outputs

if TYPE_CHECKING:
    import tensorrt


@dataclass
class _Active:
    """Everything an active runner holds, released in reverse order."""

    runtime: tensorrt.Runtime
    engine: tensorrt.ICudaEngine
    context: tensorrt.IExecutionContext
    io: EngineIO
    buffers: DeviceBuffers
    stream: int
    start: int
    end: int


def rebuild_hint(name: str, built_with: str, running: str, reason: str | None) -> str:
    """The one-line message for a plan this TensorRT cannot load."""
    why = f" ({reason})" if reason else ""
    if built_with != running:
        return (f"engine {name} was built with TensorRT {built_with} and this is TensorRT "
                f"{running}: rebuild it (edge-runtime build RECIPE --force){why}")
    return (f"TensorRT {running} cannot deserialize engine {name}{why}; rebuild it on this "
            "device (edge-runtime build RECIPE --force)")


class TensorRTRunner(BaseRunner):
    """Runs a TensorRT plan (see the module docstring)."""

    def __init__(self, artifact: Artifact, *, cuda: CudaApi | None = None) -> None:
        super().__init__(artifact, artifact.manifest.lane)
        self._cuda = cuda
        self._active: _Active | None = None

    def activate_impl(self) -> None:
        """Deserialize and create the context, with what TensorRT logs as errors meanwhile
        kept for the one-line failure (the process's one logger routes them here)."""
        with capture_errors() as logged:
            self._activate(logged)

    def _activate(self, errors: ErrorTail) -> None:
        import tensorrt as trt

        running = tensorrt_version()
        if running is None:
            raise MissingDependencyError("TensorRT", "tensorrt",
                                         f"engine {self.name} is a TensorRT plan")
        version = TrtVersion.parse(running)
        cuda = self._cuda if self._cuda is not None else load_cuda_api()
        runtime = trt.Runtime(shared_logger())
        placement = Placement.from_manifest(self.manifest)
        if placement.dla_core is not None and placement.lane != "gpu":
            runtime.DLA_core = placement.dla_core  # before deserializing: the plan's core
        engine = runtime.deserialize_cuda_engine(self.artifact.plan)
        if engine is None:
            raise UserError(rebuild_hint(self.name, self.manifest.backend_version, running,
                                         errors.last()), key="engine")
        context = engine.create_execution_context()
        if context is None:
            raise RuntimeError(f"TensorRT could not create an execution context for "
                               f"{self.name}: {errors.last() or 'out of device memory?'}")
        io = make_engine_io(version, engine, context)
        stream = cuda.stream_create()
        self._active = _Active(runtime, engine, context, io,
                               DeviceBuffers(cuda), stream, cuda.event_create(),
                               cuda.event_create())
        self._cuda = cuda

    def deactivate_impl(self) -> None:
        active, self._active = self._active, None
        if active is None or self._cuda is None:
            return
        cuda = self._cuda
        try:
            cuda.stream_synchronize(active.stream)
            active.buffers.free_all()
        finally:
            cuda.event_destroy(active.start)
            cuda.event_destroy(active.end)
            cuda.stream_destroy(active.stream)
            # context before engine before runtime: each holds the next
            del active.io, active.context, active.engine, active.runtime

    def infer_impl(self, feed: Feed) -> Outputs:
        active = self._active
        cuda = self._cuda
        if active is None or cuda is None:
            raise RunnerError(f"runner {self.name} is not active")
        inputs = self._set_inputs(active.io, feed)
        outputs = {slot.name: np.empty(self._output_shape(active.io, slot), dtype=slot.dtype)
                   for slot in active.io.slots if not slot.is_input}
        addresses = {name: active.buffers.ensure(name, array.nbytes)
                     for name, array in (*inputs.items(), *outputs.items())}
        cuda.event_record(active.start, active.stream)
        for name, array in inputs.items():
            cuda.copy_htod_async(addresses[name], array, active.stream)
        active.io.execute(addresses, active.stream)
        for name, array in outputs.items():
            cuda.copy_dtoh_async(array, addresses[name], active.stream)
        cuda.event_record(active.end, active.stream)
        cuda.stream_synchronize(active.stream)  # releases the GIL while the GPU works
        self.last_device_time_s = cuda.event_elapsed_s(active.start, active.end)
        return dict(outputs)

    def _set_inputs(self, io: EngineIO, feed: Feed) -> dict[str, npt.NDArray[Any]]:
        """Contiguous copies of the inputs, with each dynamic input's shape set on the
        context (this call's batch may differ from the last one's)."""
        arrays: dict[str, npt.NDArray[Any]] = {}
        for slot in io.slots:
            if not slot.is_input:
                continue
            array = np.ascontiguousarray(feed[slot.name])
            if array.dtype != slot.dtype:
                raise RunnerError(f"{self.name}: input '{slot.name}' must be {slot.dtype} for "
                                  f"TensorRT, got {array.dtype}")
            if slot.is_dynamic:
                io.set_input_shape(slot.name, tuple(int(d) for d in array.shape))
            arrays[slot.name] = array
        return arrays

    def _output_shape(self, io: EngineIO, slot: TensorSlot) -> tuple[int, ...]:
        shape = io.shape(slot.name)
        if any(d < 0 for d in shape):
            raise RuntimeError(f"{self.name}: output '{slot.name}' has a data-dependent shape "
                               f"{list(shape)}; this runner needs shapes known before it runs")
        return shape
