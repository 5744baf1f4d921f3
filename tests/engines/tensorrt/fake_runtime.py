"""The fake ``tensorrt.Runtime``: deserializes :func:`fakes.fake_plan` bytes into an engine with
named tensors (8.5.1+) or bindings (before), whose contexts compute
``out[n, j] = mean(first input[n]) + j`` through the fake device memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_runtime.engines.backends.tensorrt.tensors import numpy_dtype
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion


def make_runtime(trt: Any, v: TrtVersion, version: str, cuda: Any, rec: Any,
                 log_error: Callable[[Any, str], None]) -> type:
    """The Runtime class of a fake TensorRT ``version``."""

    class Tensor:
        def __init__(self, spec: dict[str, Any]) -> None:
            self.name: str = spec["name"]
            self.is_input: bool = spec["input"]
            self.dtype = getattr(trt.DataType, spec["dtype"])
            self.shape: list[int] = list(spec["shape"])

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine
            self.shapes = {t.name: list(t.shape) for t in engine.tensors}
            self.addresses: dict[str, int] = {}

        def _batch(self) -> int:
            first = next(t for t in self.engine.tensors if t.is_input)
            return self.shapes[first.name][0]

        def _shape(self, name: str) -> list[int]:
            shape = list(self.shapes[name])
            if shape and shape[0] < 0 and all(d >= 0 for t in self.engine.tensors
                                              if t.is_input for d in self.shapes[t.name]):
                shape[0] = self._batch()
            return shape

        def _set(self, name: str, shape: Any) -> bool:
            declared = next(t for t in self.engine.tensors if t.name == name).shape
            if len(shape) != len(declared) or any(
                    d >= 0 and d != s for d, s in zip(declared, shape, strict=True)):
                return False
            self.shapes[name] = list(shape)
            rec.executions.append(f"shape {name}={list(shape)}")
            return True

        def _run(self) -> bool:
            assert cuda is not None
            first = next(t for t in self.engine.tensors if t.is_input)
            x = cuda.read(self.addresses[first.name], tuple(self._shape(first.name)),
                          numpy_dtype(first.dtype.name))
            for out in (t for t in self.engine.tensors if not t.is_input):
                shape = tuple(self._shape(out.name))
                means = x.reshape(x.shape[0], -1).mean(axis=1)
                value = means.reshape(-1, *([1] * (len(shape) - 1))) + np.arange(
                    shape[-1]).reshape(*([1] * (len(shape) - 1)), -1)
                data = np.ascontiguousarray(np.broadcast_to(value, shape),
                                            dtype=numpy_dtype(out.dtype.name)).tobytes()
                buffer = cuda.memory[self.addresses[out.name]]
                assert len(data) <= len(buffer), "output buffer too small"
                buffer[:len(data)] = data
            return True

        # -- named tensors (8.5.1+) --
        if v.has_named_tensor_io:
            def set_input_shape(self, name: str, shape: Any) -> bool:
                return self._set(name, shape)

            def get_tensor_shape(self, name: str) -> list[int]:
                return self._shape(name)

            def set_tensor_address(self, name: str, address: int) -> bool:
                self.addresses[name] = address
                return True

            def execute_async_v3(self, stream_handle: int) -> bool:
                rec.executions.append("execute_async_v3")
                return self._run()

        # -- bindings (8.x, removed in 10.0) --
        if not v.has_named_tensor_io:
            def set_binding_shape(self, binding: int, shape: Any) -> bool:
                return self._set(self.engine.tensors[binding].name, shape)

            def get_binding_shape(self, binding: int) -> list[int]:
                return self._shape(self.engine.tensors[binding].name)

            def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool:
                rec.executions.append("execute_async_v2")
                self.addresses.update(zip((t.name for t in self.engine.tensors), bindings,
                                          strict=True))
                return self._run()

    class Engine:
        num_optimization_profiles = 1

        def __init__(self, plan: dict[str, Any]) -> None:
            io = list(plan["io"])
            if not any(not t["input"] for t in io):  # a built plan: add the classifier output
                io.append({"name": "logits", "input": False, "dtype": "FLOAT",
                           "shape": [io[0]["shape"][0], 4]})
            self.tensors = [Tensor(spec) for spec in io]

        def create_execution_context(self) -> Context:
            return Context(self)

        if v.has_named_tensor_io:
            @property
            def num_io_tensors(self) -> int:
                return len(self.tensors)

            def get_tensor_name(self, index: int) -> str:
                return self.tensors[index].name

            def _tensor(self, name: str) -> Tensor:
                return next(t for t in self.tensors if t.name == name)

            def get_tensor_mode(self, name: str) -> Any:
                return trt.TensorIOMode.INPUT if self._tensor(name).is_input \
                    else trt.TensorIOMode.OUTPUT

            def get_tensor_dtype(self, name: str) -> Any:
                return self._tensor(name).dtype

            def get_tensor_shape(self, name: str) -> list[int]:
                return list(self._tensor(name).shape)
        else:
            @property
            def num_bindings(self) -> int:
                return len(self.tensors)

            def get_binding_name(self, index: int) -> str:
                return self.tensors[index].name

            def binding_is_input(self, index: int) -> bool:
                return self.tensors[index].is_input

            def get_binding_dtype(self, index: int) -> Any:
                return self.tensors[index].dtype

            def get_binding_shape(self, index: int) -> list[int]:
                return list(self.tensors[index].shape)

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.logger = trt.the_logger(logger)
            self.DLA_core = -1

        def deserialize_cuda_engine(self, plan: bytes) -> Engine | None:
            spec = json.loads(bytes(plan))
            if spec["trt"] != version:
                log_error(self.logger, "The engine plan file is not compatible with this "
                          f"version of TensorRT, expecting library version {version} got "
                          f"{spec['trt']}, please rebuild.")
                return None
            rec.executions.append(f"deserialize dla_core={self.DLA_core}")
            return Engine(spec)

    return Runtime
