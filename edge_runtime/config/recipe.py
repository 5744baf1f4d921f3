"""Engine recipes (``engines/*.yaml``): how to turn one ONNX model into an engine."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edge_runtime.config.base import ConfigModel
from edge_runtime.config.stages import (
    AnyPreprocess,
    PostprocessConfig,
    SourceConfig,
    resolve_path,
)


class Precision(str, enum.Enum):
    """Numeric precision of the built engine (``best`` lets the builder pick per layer)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"
    BEST = "best"


class Sparsity(str, enum.Enum):
    """Weight sparsity pattern the builder may exploit."""

    NONE = "none"
    TWO_FOUR = "2:4"


class CalibrationMethod(str, enum.Enum):
    """How INT8 ranges are chosen from calibration activations."""

    ENTROPY = "entropy"
    PERCENTILE = "percentile"
    MINMAX = "minmax"


class TargetDevice(str, enum.Enum):
    """Which accelerator runs the engine."""

    GPU = "gpu"
    DLA0 = "dla0"
    DLA1 = "dla1"


class BackendName(str, enum.Enum):
    """Engine backends: ``auto`` is TensorRT where it is installed, else the simulated Jetson."""

    AUTO = "auto"
    MOCK = "mock"
    ONNXRUNTIME = "onnxruntime"
    TENSORRT = "tensorrt"
    TRITON = "triton"


class MockOutputs(str, enum.Enum):
    """What the simulated Jetson returns: zeros of the right shape, or real onnxruntime outputs."""

    SYNTHETIC = "synthetic"
    ONNXRUNTIME = "onnxruntime"


class DataConfig(ConfigModel):
    """Frames (or ready tensors) for calibration or evaluation, and how to use them."""

    source: Literal["pipeline"] | SourceConfig = "pipeline"
    """``pipeline``: the source of the pipeline that runs this engine; or a source of its own
    (``synthetic_camera``, ``image_dir``, ``numpy``). An .npz whose arrays are named like the
    model's inputs is read as ready tensors (one sample per index of the first axis), which is
    how non-image models (audio, token ids, recurrent state) are calibrated."""
    preprocess: AnyPreprocess | None = None
    """Frame to tensor (default: the pipeline's; without a pipeline, resize to the input), or
    text to tokens (``type: tokens``) for a text model on a ``text_commands`` source."""
    postprocess: PostprocessConfig | None = None
    """Decoder for the task metric, top-1 or mAP@0.5 (default: the pipeline's; else none, and
    the gate compares raw outputs)."""

    @model_validator(mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        """``data: calib/`` or ``data: calib.npz`` is short for a source of that file."""
        if isinstance(value, str) and value != "pipeline":
            kind = "numpy" if value.endswith((".npy", ".npz")) else "image_dir"
            return {"source": {"type": kind, "path": value}}
        if value == "pipeline":
            return {"source": "pipeline"}
        return value


class CalibrationConfig(ConfigModel):
    """INT8 calibration: which data, how many batches, which range estimator."""

    method: CalibrationMethod = CalibrationMethod.ENTROPY
    """Range estimator for INT8 activations."""
    data: DataConfig = DataConfig()
    """Calibration data (a path is short for a source of that file; ``pipeline`` by default)."""
    batches: int = Field(default=16, ge=1)
    """How many batches to feed through the model."""
    batch_size: int = Field(default=8, ge=1)
    """Frames per batch (1 when the model's batch dimension is fixed)."""
    percentile: float = Field(default=99.99, gt=50.0, le=100.0)
    """Percentile kept by the ``percentile`` method."""
    op_types: list[str] | None = None
    """ONNX op types given Q/DQ (default: every type onnxruntime's quantizer takes). A
    transformer quantizes ``[MatMul, Gemm]`` (its projections and attention products) and
    keeps LayerNorm, Softmax and the residual adds in float, as NVIDIA's BERT recipe does."""


class EvaluationConfig(ConfigModel):
    """The data the accuracy gate compares the built precision with FP32 on."""

    data: DataConfig | None = None
    """Evaluation data (default: the calibration data's source, with frames it did not see
    where the source can give them)."""
    frames: int = Field(default=300, ge=1)
    """How many samples to evaluate."""


class TargetConfig(ConfigModel):
    """Which accelerator the engine is built for."""

    device: TargetDevice = TargetDevice.GPU
    """Accelerator to build for."""
    gpu_fallback: bool = True
    """On a DLA, let layers the DLA cannot run fall back to the GPU."""


class ShapeProfile(ConfigModel):
    """One input's shape: fixed (``shape``) or a TensorRT optimisation profile (min/opt/max)."""

    shape: list[int] | None = None
    """Fixed shape, e.g. ``[1, 3, 120, 160]``."""
    min: list[int] | None = None
    """Smallest shape the engine accepts."""
    opt: list[int] | None = None
    """Shape the engine is tuned for (and the simulator costs)."""
    max: list[int] | None = None
    """Largest shape the engine accepts."""

    @model_validator(mode="after")
    def _one_form(self) -> ShapeProfile:
        profile = (self.min, self.opt, self.max)
        if self.shape is None and any(p is None for p in profile):
            raise ValueError("give either 'shape' or all of 'min', 'opt' and 'max'")
        if self.shape is not None and any(p is not None for p in profile):
            raise ValueError("give 'shape' or 'min'/'opt'/'max', not both")
        if self.shape is None:
            lo, mid, hi = profile
            assert lo is not None and mid is not None and hi is not None
            if not len(lo) == len(mid) == len(hi):
                raise ValueError("'min', 'opt' and 'max' must have the same rank")
            if any(not a <= b <= c for a, b, c in zip(lo, mid, hi, strict=True)):
                raise ValueError("need min <= opt <= max in every dimension")
        dims = self.shape if self.shape is not None else self.opt
        if dims is not None and any(d < 1 for d in dims):
            raise ValueError("every dimension must be a positive integer")
        return self

    @property
    def optimal(self) -> list[int]:
        """The shape the engine is built and costed for."""
        shape = self.shape if self.shape is not None else self.opt
        assert shape is not None
        return shape


class TritonConfig(ConfigModel):
    """Where a ``backend: triton`` engine runs: a model served by a Triton Inference Server
    (a fleet box on the robot's network, or ``edge-runtime triton serve-models``). Nothing is
    built on the module; the engine cache records the server's model version."""

    url: str
    """The server's gRPC endpoint, ``host:port`` (Triton's default gRPC port is 8001)."""
    model: str | None = None
    """The model's name on the server (default: this engine's name)."""
    version: str = ""
    """Model version to run (default: the newest version the server has ready)."""
    timeout_ms: float = Field(default=1000.0, gt=0)
    """Longest a request may take when the pipeline has no deadline (with a deadline, the
    time left until it is the request's timeout)."""
    retries: int = Field(default=1, ge=0, le=5)
    """Times a request the server never received (connection refused or reset before it was
    sent) is sent again, within its timeout; a request the server may have run is never
    resent."""

    @field_validator("url")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.removeprefix("grpc://").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("give the server's gRPC endpoint as HOST:PORT, e.g. "
                             "127.0.0.1:8001 (Triton's default gRPC port is 8001)")
        return value

    @property
    def address(self) -> str:
        """``host:port``, the form tritonclient's gRPC client takes."""
        return self.url.removeprefix("grpc://")


class MockConfig(ConfigModel):
    """Options of the simulated Jetson (mock) backend."""

    outputs: MockOutputs = MockOutputs.SYNTHETIC
    """Outputs of the simulated engine: ``synthetic`` (zeros, right shapes) or ``onnxruntime``
    (computed for real on the CPU; timing still follows the simulated device)."""
    price_as: str | None = None
    """Price the engine's latency as one of the simulator's reference networks (e.g.
    ``retinanet_resnet34``; docs/simulator.md lists them) instead of this ONNX: a demo
    can load the simulated module as the networks a robot runs while its outputs still come
    from the bundled model. Shown in the engine's notes."""


class EngineRecipe(ConfigModel):
    """An engine recipe: one ONNX model and how to build it."""

    name: str | None = None
    """Engine name; defaults to the recipe file's stem."""
    onnx: Path
    """ONNX model, relative to this file."""
    precision: Precision = Precision.FP16
    """Engine precision."""
    sparsity: Sparsity = Sparsity.NONE
    """Structured sparsity to exploit."""
    calibration: CalibrationConfig = CalibrationConfig()
    """INT8 calibration (used when precision is int8 or best)."""
    evaluation: EvaluationConfig = EvaluationConfig()
    """What the accuracy gate evaluates on."""
    max_accuracy_drop: float | None = Field(default=None, ge=0)
    """Largest drop of the task metric (top-1 or mAP@0.5, in points) the built precision may
    have against FP32; without a task metric, of output agreement (100 x cosine similarity).
    Unset: the drop is measured and reported, never enforced."""
    target: TargetConfig = TargetConfig()
    """Accelerator and fallback."""
    inputs: dict[str, ShapeProfile] = Field(default_factory=dict)
    """Shapes for inputs with dynamic dimensions, by input name."""
    max_batch: int = Field(default=1, ge=1)
    """Largest batch the engine serves."""
    workspace_mb: int | None = Field(default=None, ge=1)
    """Cap on the builder's scratch memory (TensorRT workspace pool), in MiB."""
    backend: BackendName = BackendName.AUTO
    """Engine backend."""
    mock: MockConfig = MockConfig()
    """Options of the simulated Jetson backend."""
    triton: TritonConfig | None = None
    """The server and model of a ``backend: triton`` engine (required with it)."""

    _resolve_onnx = field_validator("onnx")(resolve_path)

    @model_validator(mode="after")
    def _triton_with_its_server(self) -> EngineRecipe:
        """A triton engine names its server; a ``triton`` section on another backend would be
        silently unused, so both mistakes are refused at load."""
        if self.backend is BackendName.TRITON and self.triton is None:
            raise ValueError("backend triton needs triton: {url: HOST:PORT, model: NAME}")
        if self.triton is not None and self.backend is not BackendName.TRITON:
            raise ValueError(f"a triton section is only read with backend: triton (this "
                             f"recipe's backend is {self.backend.value})")
        return self
