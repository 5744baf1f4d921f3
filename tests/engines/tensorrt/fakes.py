"""Stand-in at the hardware boundary: a fake ``tensorrt`` module (the CUDA one: fake_cuda.py).

Only the boundary is faked; the backend's own code runs for real against it. The fake TensorRT
has the API surface of the version it claims (``make_fake_trt("8.5.2.2")`` has no
``IProgressMonitor``; ``"8.4.1.5"`` has bindings instead of named tensors; ``"11.0.0"`` has no
precision flags or calibrators and ``"10.x"`` no ``build_engine``), records what the backend asked
of it, and "executes" a plan by computing ``out[n, j] = mean(first input[n]) + j`` through the
fake device memory, so copies in and out are checked end to end.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from edge_runtime.engines.backends.tensorrt.versions import TrtVersion
from tests.engines.tensorrt.fake_cuda import FakeCuda


class _Named:
    """An enum-like member with ``.name`` (pybind11 enums)."""

    def __init__(self, name: str, value: int = 0) -> None:
        self.name = name
        self.value = value

    def __int__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Named) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return self.name


def _members(*names: str) -> type:
    return type("Enum", (), {n: _Named(n, i) for i, n in enumerate(names)})


DataType = _members("FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "INT64")
ONNX_TYPES = {onnx.TensorProto.FLOAT: "FLOAT", onnx.TensorProto.FLOAT16: "HALF",
              onnx.TensorProto.INT64: "INT64", onnx.TensorProto.INT32: "INT32"}


@dataclass
class FakeTensor:
    name: str
    shape: list[int]
    dtype: Any = DataType.FLOAT  # type: ignore[attr-defined]


@dataclass
class FakeLayer:
    name: str
    op: str
    outputs: list[FakeTensor]
    precision: Any = None
    output_types: dict[int, Any] = field(default_factory=dict)

    @property
    def type(self) -> _Named:
        return _Named("CONSTANT" if self.op == "Constant" else self.op.upper())

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def get_output(self, index: int) -> FakeTensor:
        return self.outputs[index]

    def set_output_type(self, index: int, dtype: Any) -> None:
        self.output_types[index] = dtype


class FakeNetwork:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.inputs: list[FakeTensor] = []
        self.outputs: list[FakeTensor] = []
        self.layers: list[FakeLayer] = []

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> FakeTensor:
        return self.inputs[index]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_layer(self, index: int) -> FakeLayer:
        return self.layers[index]


@dataclass
class FakeParserError:
    index: int
    text: str

    def node(self) -> int:
        return self.index

    def desc(self) -> str:
        return self.text


def fake_plan(version: str, io: list[dict[str, Any]], **extra: Any) -> bytes:
    """Plan bytes the fake runtime deserializes: the TensorRT version and the I/O tensors."""
    return json.dumps({"trt": version, "io": io, **extra}).encode()


@dataclass
class Recorder:
    """What the backend asked of the fake TensorRT."""

    networks: list[FakeNetwork] = field(default_factory=list)
    configs: list[Any] = field(default_factory=list)
    builds: int = 0
    build_engine_calls: int = 0
    calibration_batches: list[list[npt.NDArray[Any]]] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)
    #: The one logger of the process (see ``the_logger``).
    logger: Any = None
    #: What the wrapper's trampolines caught and printed instead of raising.
    swallowed: list[str] = field(default_factory=list)


def trampoline(rec: Recorder, name: str, default: Any, method: Callable[..., Any],
               *args: Any) -> Any:
    """How TensorRT's pybind11 wrapper calls a Python override (``pyInt8.cpp``,
    ``PyProgressMonitor`` in ``pyCore.cpp``): an exception is printed and swallowed, and the
    C++ side gets ``default`` (false for ``get_batch`` and ``step_complete``)."""
    try:
        return method(*args)
    except BaseException as exc:  # pybind11's error_already_set carries any Python exception
        rec.swallowed.append(f"[ERROR] Exception caught in {name}(): {exc}")
        return default


class FakeModule(types.ModuleType):
    """A module whose attributes are set at run time (typed ``Any`` for the tests)."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"fake tensorrt {self.__version__} has no {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)


def make_fake_trt(version: str, cuda: FakeCuda | None = None, *, dla_cores: int = 2,
                  unsupported_ops: frozenset[str] = frozenset(),
                  dla_unsupported_ops: frozenset[str] = frozenset({"Gemm"}),
                  fail_build: str | None = None) -> FakeModule:
    """A ``tensorrt`` module with the API of ``version`` (see the module docstring)."""
    v = TrtVersion.parse(version)
    trt = FakeModule("tensorrt")
    trt.__version__ = version
    rec = Recorder()
    trt.recorder = rec
    trt.DataType = DataType
    trt.LayerType = types.SimpleNamespace(CONSTANT=_Named("CONSTANT"))
    trt.TensorIOMode = _members("NONE", "INPUT", "OUTPUT")
    trt.DeviceType = _members("GPU", "DLA")
    trt.MemoryPoolType = _members("WORKSPACE")
    flags = ["GPU_FALLBACK", "SPARSE_WEIGHTS"]
    if v.has_weak_typing:
        flags += ["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"]
    trt.BuilderFlag = _members(*flags)
    creation = ["EXPLICIT_BATCH"] if v.major < 11 else ["_RESERVED"]
    trt.NetworkDefinitionCreationFlag = _members(*creation, "STRONGLY_TYPED") \
        if v.has_strongly_typed_networks else _members(*creation)
    trt.Dims = list  # Dims(list[int]); the code under test indexes it

    class ILogger:
        Severity = _members("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE")

        def __init__(self) -> None:
            self.initialised = True

        def log(self, severity: Any, msg: str) -> None: ...

    trt.ILogger = ILogger

    def log_error(logger: Any, message: str) -> None:
        logger.log(ILogger.Severity.ERROR, message)  # type: ignore[attr-defined]

    def the_logger(logger: Any) -> Any:
        """TensorRT keeps one logger pointer: the first one given to a Builder or Runtime is
        used by all later ones, which only get a warning (NVIDIA/TensorRT#1475)."""
        if rec.logger is None:
            rec.logger = logger
        elif logger is not rec.logger:
            rec.logger.log(ILogger.Severity.WARNING,  # type: ignore[attr-defined]
                           "TensorRT maintains only a single logger pointer at any given "
                           "time, so the existing value will be used instead")
        return rec.logger

    trt.the_logger = the_logger

    class OnnxParser:
        def __init__(self, network: FakeNetwork, logger: Any) -> None:
            self.network = network
            self.errors: list[FakeParserError] = []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> FakeParserError:
            return self.errors[index]

        def parse(self, model: bytes, path: str | None = None) -> bool:
            proto = onnx.load_from_string(model)
            for value in proto.graph.input:
                dims = [d.dim_value if d.HasField("dim_value") else -1
                        for d in value.type.tensor_type.shape.dim]
                dtype = getattr(DataType, ONNX_TYPES[value.type.tensor_type.elem_type])
                self.network.inputs.append(FakeTensor(value.name, dims, dtype))
            for init in proto.graph.initializer:
                self.network.layers.append(FakeLayer(init.name, "Constant", [FakeTensor(
                    init.name, list(init.dims))]))
            for index, node in enumerate(proto.graph.node):
                if node.op_type in unsupported_ops:
                    self.errors.append(FakeParserError(
                        index, f"No importer registered for op: {node.op_type}. "
                               "Attempting to import as plugin."))
                    continue
                outputs = [FakeTensor(name, []) for name in node.output]
                self.network.layers.append(FakeLayer(node.name, node.op_type, outputs))
                if node.op_type == "Gemm":  # the parser adds a second layer for the bias
                    self.network.layers.append(FakeLayer(f"{node.name}_1", "ElementWise",
                                                         [FakeTensor(f"{node.name}_b", [])]))
            return not self.errors

    trt.OnnxParser = OnnxParser

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return self.data + f"|build{rec.builds}".encode()

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[Any, Any, Any]] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            self.shapes[name] = (lo, opt, hi)

    class Config:
        def __init__(self) -> None:
            self.flags: set[str] = set()
            self.pools: dict[str, int] = {}
            self.profiles: list[Profile] = []
            self.calibration_profile: Profile | None = None
            self.default_device_type = trt.DeviceType.GPU
            self.DLA_core = -1
            self.timing_cache: TimingCache | None = None
            self.loaded_timing_cache = b""
            self.progress_monitor: Any = None
            rec.configs.append(self)

        def __setattr__(self, name: str, value: Any) -> None:
            if name == "int8_calibrator" and not v.has_implicit_int8:
                raise AttributeError("int8_calibrator was removed in TensorRT 11")
            if name == "progress_monitor" and value is not None and not v.has_progress_monitor:
                raise AttributeError("IBuilderConfig has no progress_monitor before 10.0")
            object.__setattr__(self, name, value)

        def set_flag(self, flag: _Named) -> None:
            self.flags.add(flag.name)

        def set_memory_pool_limit(self, pool: _Named, size: int) -> None:
            self.pools[pool.name] = size

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def set_calibration_profile(self, profile: Profile) -> bool:
            self.calibration_profile = profile
            return True

        def can_run_on_DLA(self, layer: FakeLayer) -> bool:  # noqa: N802 - TensorRT's name
            reduced = bool({"FP16", "INT8"} & self.flags)
            return reduced and layer.op not in dla_unsupported_ops

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if cache.data.startswith(b"OTHER-GPU"):
                return False
            self.timing_cache = cache
            self.loaded_timing_cache = cache.data
            return True

        def get_timing_cache(self) -> TimingCache:
            assert self.timing_cache is not None
            return self.timing_cache

    class Builder:
        num_DLA_cores = dla_cores  # noqa: N815 - TensorRT's name

        def __init__(self, logger: Any) -> None:
            self.logger = the_logger(logger)

        def create_network(self, flags: int = 0) -> FakeNetwork:
            network = FakeNetwork(flags)
            rec.networks.append(network)
            return network

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: FakeNetwork, config: Config) -> Any:
            rec.builds += 1
            monitor = config.progress_monitor
            if monitor is not None:
                trampoline(rec, "phase_start", None, monitor.phase_start, "Building engine",
                           None, 4)
            calibrator = getattr(config, "int8_calibrator", None)
            if calibrator is not None:
                _calibrate(calibrator, network)
            if monitor is not None:
                for step in range(4):
                    if not trampoline(rec, "step_complete", False, monitor.step_complete,
                                      "Building engine", step):
                        log_error(self.logger, "Build cancelled by the progress monitor")
                        return None
                trampoline(rec, "phase_finish", None, monitor.phase_finish, "Building engine")
            if fail_build:
                log_error(self.logger, fail_build)
                return None
            io = [{"name": t.name, "input": True, "dtype": t.dtype.name, "shape": t.shape}
                  for t in network.inputs]
            return fake_plan(version, io, flags=sorted(config.flags))

        if v.has_build_engine:
            def build_engine(self, network: FakeNetwork, config: Config) -> Any:
                rec.build_engine_calls += 1
                raise AssertionError("build_engine must never be called")

    def _calibrate(calibrator: Any, network: FakeNetwork) -> None:
        cache = trampoline(rec, "read_calibration_cache", None,
                           calibrator.read_calibration_cache)
        if cache:
            return
        names = [t.name for t in network.inputs]
        while pointers := trampoline(rec, "get_batch", None, calibrator.get_batch, names):
            assert cuda is not None
            shapes = [t.shape for t in network.inputs]
            rec.calibration_batches.append([
                cuda.read(p, (calibrator.get_batch_size(), *s[1:]), np.float32)
                for p, s in zip(pointers, shapes, strict=True)])
        trampoline(rec, "write_calibration_cache", None, calibrator.write_calibration_cache,
                   b"TRT-8502-EntropyCalibration2\nimage: 3c010204\n")

    trt.Builder = Builder
    _add_runtime(trt, v, version, cuda, rec, log_error)
    if v.has_implicit_int8:
        for name in ("IInt8Calibrator", "IInt8EntropyCalibrator2", "IInt8MinMaxCalibrator"):
            setattr(trt, name, type(name, (), {"__init__": lambda self: None}))
    if v.has_progress_monitor:
        trt.IProgressMonitor = type("IProgressMonitor", (), {"__init__": lambda self: None})
    return trt


def _add_runtime(trt: FakeModule, v: TrtVersion, version: str, cuda: FakeCuda | None,
                 rec: Recorder, log_error: Callable[[Any, str], None]) -> None:
    from tests.engines.tensorrt.fake_runtime import make_runtime

    trt.Runtime = make_runtime(trt, v, version, cuda, rec, log_error)
