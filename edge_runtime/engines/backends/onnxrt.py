"""The onnxruntime backend: real inference with the execution providers this host has.

Providers are chosen by availability, in the order a Jetson user wants them: TensorRT EP, then
CUDA EP, then CPU. This machine has only the CPU provider, so here the backend runs on the
``cpu`` lane. The plan is the ONNX file itself, checked at build time by opening a session.
``onnxruntime`` is imported when a builder or runner is made, not when this module is.
"""

from __future__ import annotations

import time
from typing import Any

from edge_runtime.config.recipe import Precision
from edge_runtime.engines.artifact import Artifact, Manifest
from edge_runtime.engines.base import (
    BaseRunner,
    BuildRequest,
    EngineBuilder,
    Feed,
    Outputs,
    Progress,
    base_manifest_fields,
)
from edge_runtime.engines.specs import engine_input_specs, engine_output_specs
from edge_runtime.errors import UserError

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                       "CPUExecutionProvider")


def available_providers() -> list[str]:
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [p for p in PREFERRED_PROVIDERS if p in have]


def lane_of(providers: list[str]) -> str:
    return "cpu" if providers[:1] == ["CPUExecutionProvider"] else "gpu"


def make_session(model: bytes, providers: list[str], threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=providers)


class OnnxRuntimeBuilder(EngineBuilder):
    """Validates the model in onnxruntime and records what it will run with."""

    backend = "onnxruntime"

    def __init__(self, providers: list[str] | None = None) -> None:
        self.providers = providers or available_providers()

    def identity(self) -> dict[str, str]:
        import onnxruntime as ort

        return {"version": ort.__version__, "device": ",".join(self.providers)}

    def build(self, request: BuildRequest, progress: Progress | None = None) -> Artifact:
        started = time.perf_counter()
        if progress:
            progress(f"opening {request.recipe.name} in onnxruntime ({self.providers[0]})")
        try:
            make_session(request.onnx_bytes, self.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise UserError(f"onnxruntime cannot load {request.recipe.onnx}: {first_line}",
                            key="onnx") from None
        notes = []
        precision = Precision.INT8 if request.quantized else Precision.FP32
        if request.recipe.precision is Precision.FP16:
            notes.append(f"precision fp16 requested; onnxruntime on {self.providers[0]} runs "
                         "the float model in fp32")
        plan = request.onnx_bytes
        fields = base_manifest_fields(request, self, plan, started)
        fields["precision"] = precision.value
        manifest = Manifest(
            **fields,
            lane=lane_of(self.providers),
            inputs=engine_input_specs(request.model, request.recipe),
            outputs=engine_output_specs(request.costed_model, request.input_shapes),
            notes=notes,
        )
        return Artifact(plan=plan, manifest=manifest)


class OnnxRuntimeRunner(BaseRunner):
    """An InferenceSession; ``run`` releases the GIL, so lanes run in parallel threads."""

    def __init__(self, artifact: Artifact, *, threads: int | None = None) -> None:
        super().__init__(artifact, artifact.manifest.lane)
        self.threads = threads
        self._session: Any = None
        self._output_names = [o.name for o in artifact.manifest.outputs]

    def activate_impl(self) -> None:
        providers = self.manifest.device.split(",")
        self._session = make_session(self.artifact.plan, providers, self.threads)

    def deactivate_impl(self) -> None:
        self._session = None

    def infer_impl(self, feed: Feed) -> Outputs:
        started = time.perf_counter()
        values = self._session.run(self._output_names, dict(feed))
        self.last_device_time_s = time.perf_counter() - started
        return dict(zip(self._output_names, values, strict=True))
