"""The onnxruntime backend: real inference with the execution providers this host has.

Providers are chosen by availability, in the order a Jetson user wants them: TensorRT EP, then
CUDA EP, then CPU (onnxruntime falls back along the list for nodes a provider cannot run). The
TensorRT EP is configured from the recipe: FP16/INT8 (an INT8 build hands it the Q/DQ model:
TensorRT will not load a calibration table into a model with Q/DQ nodes), DLA core with GPU
fallback, 2:4 sparsity, workspace, and its engine and timing caches under the engine cache, so
it does not rebuild its own engines at every start. This machine has only the CPU provider, so
here the backend runs on the ``cpu`` lane, INT8 on onnxruntime's CPU kernels. The plan is the
ONNX (the Q/DQ one for INT8), checked at build time by opening a session. ``onnxruntime`` is
imported when a builder or runner is made, not when this module is.

Two ways the TensorRT EP silently does not run, both handled here: an option key older
onnxruntime does not know makes its binding throw ``Invalid TensorRT EP option: <key>``, and the
Python wrapper then falls back to the next providers ("Falling back to [...] and retrying"), as
it also does for a provider this build lacks. So each key newer than the ``onnxruntime-gpu``
floor in ``setup.cfg`` is sent only to releases that know it (:data:`TRT_OPTION_SINCE`, the
rest dropped with a note), and the manifest records the providers the session *started*
(``get_providers()``), with the reason logged and noted, never the ones asked for.
"""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path
from typing import Any

from edge_runtime.config.recipe import EngineRecipe, Precision, Sparsity, TargetDevice
from edge_runtime.engines.artifact import Artifact, Manifest
from edge_runtime.engines.base import (
    BaseRunner,
    BuildRequest,
    EngineBuilder,
    MessageFn,
    base_manifest_fields,
)
from edge_runtime.engines.specs import engine_input_specs, engine_output_specs
from edge_runtime.errors import UserError
from edge_runtime.graph.tensors import Feed, Outputs
from edge_runtime.optimize.quantize import Activations

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                       "CPUExecutionProvider")


def available_providers() -> list[str]:
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [p for p in PREFERRED_PROVIDERS if p in have]


def lane_of(providers: list[str], recipe: EngineRecipe) -> str:
    if providers[:1] == ["CPUExecutionProvider"]:
        return "cpu"
    if providers[0] == "TensorrtExecutionProvider" and recipe.target.device is not \
            TargetDevice.GPU:
        return str(recipe.target.device.value)
    return "gpu"


ProviderOptions = dict[str, dict[str, str]]

LOG = logging.getLogger(__name__)

#: TensorRT EP option keys newer than the floor (onnxruntime-gpu 1.16) and the release that
#: first accepts them: the timing cache path arrived with 1.17 (microsoft/onnxruntime#19478,
#: #21484); sparsity is gated with it (reported rejected by 1.16, not checked here).
TRT_OPTION_SINCE: dict[str, tuple[int, int]] = {
    "trt_timing_cache_path": (1, 17),
    "trt_sparsity_enable": (1, 17),
}


def release(version: str) -> tuple[int, int]:
    """``"1.16.3"`` -> ``(1, 16)``; dev suffixes ignored."""
    major, minor = [*version.split("."), "0"][:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def gate_options(options: dict[str, str], version: str) -> tuple[dict[str, str], list[str]]:
    """The options this onnxruntime ``version`` accepts, and a note per key dropped."""
    have = release(version)
    kept = {k: v for k, v in options.items() if TRT_OPTION_SINCE.get(k, (0, 0)) <= have}
    notes = [f"onnxruntime {version} has no TensorRT EP option {key} (from "
             f"{'.'.join(map(str, TRT_OPTION_SINCE[key]))}): left out"
             for key in options if key not in kept]
    return kept, notes


def provider_options(recipe: EngineRecipe, quantized: bool, cache_dir: Path | None,
                     providers: list[str]) -> ProviderOptions:
    """Options per provider in ``providers`` (strings, as onnxruntime's Python API takes them)."""
    options: ProviderOptions = {}
    if "TensorrtExecutionProvider" in providers:
        trt: dict[str, str] = {
            "trt_fp16_enable": _flag(recipe.precision in (Precision.FP16, Precision.BEST)
                                     or quantized),
            "trt_int8_enable": _flag(quantized),
            "trt_sparsity_enable": _flag(recipe.sparsity is Sparsity.TWO_FOUR),
        }
        if recipe.target.device is not TargetDevice.GPU:
            trt["trt_dla_enable"] = "1"
            trt["trt_dla_core"] = recipe.target.device.value.removeprefix("dla")
        if recipe.workspace_mb:
            trt["trt_max_workspace_size"] = str(recipe.workspace_mb * 1024 * 1024)
        if cache_dir is not None:
            trt.update({"trt_engine_cache_enable": "1",
                        "trt_engine_cache_path": str(cache_dir / "ort-tensorrt"),
                        "trt_timing_cache_enable": "1",
                        "trt_timing_cache_path": str(cache_dir / "ort-tensorrt")})
        options["TensorrtExecutionProvider"] = trt
    if "CUDAExecutionProvider" in providers:
        options["CUDAExecutionProvider"] = {"device_id": "0"}
    return options


def _flag(value: bool) -> str:
    return "1" if value else "0"


def make_session(model: bytes, providers: list[str], threads: int | None = None,
                 options: ProviderOptions | None = None) -> Any:
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    if threads is not None:
        session_options.intra_op_num_threads = threads
    session_options.inter_op_num_threads = 1
    # A lane hands a session one frame at a time with gaps between: spinning intra-op workers
    # would burn, in every gap, the core that capture, preprocessing and decoding need.
    session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    configured = [(p, (options or {}).get(p, {})) for p in providers]
    return ort.InferenceSession(model, session_options, providers=configured)


class OnnxRuntimeBuilder(EngineBuilder):
    """Validates the model in onnxruntime and records what it will run with."""

    backend = "onnxruntime"

    def __init__(self, providers: list[str] | None = None) -> None:
        self.providers = providers or available_providers()
        if self.providers[0] == "CPUExecutionProvider" and platform.machine() in ("x86_64",
                                                                                 "AMD64"):
            self.int8_activations = Activations.UINT8

    def identity(self) -> dict[str, str]:
        import onnxruntime as ort

        return {"version": ort.__version__, "device": ",".join(self.providers)}

    def build(self, request: BuildRequest, progress: MessageFn | None = None) -> Artifact:
        started = time.perf_counter()
        if progress:
            progress(f"opening {request.recipe.name} in onnxruntime ({self.providers[0]})")
        import onnxruntime as ort

        options = provider_options(request.recipe, request.quantized, request.work_dir,
                                   self.providers)
        notes: list[str] = []
        if "TensorrtExecutionProvider" in options:
            options["TensorrtExecutionProvider"], dropped = gate_options(
                options["TensorrtExecutionProvider"], ort.__version__)
            notes.extend(dropped)
        try:
            session = make_session(request.onnx_bytes, self.providers, options=options)
        except Exception as exc:  # onnxruntime raises its own exception types
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise UserError(f"onnxruntime cannot load {request.recipe.onnx}: {first_line}",
                            key="onnx") from None
        providers = started_providers(session, self.providers, notes)
        options = {p: o for p, o in options.items() if p in providers}
        precision = Precision.INT8 if request.quantized else Precision.FP32
        if request.recipe.precision is Precision.FP16:
            notes.append(f"precision fp16 requested; onnxruntime on {providers[0]} runs "
                         "the float model in fp32")
        plan = request.onnx_bytes
        fields = base_manifest_fields(request, self, plan, started)
        fields["precision"] = precision.value
        manifest = Manifest(
            **fields,
            lane=lane_of(providers, request.recipe),
            backend_options={"providers": providers, "provider_options": options},
            inputs=engine_input_specs(request.model, request.recipe),
            outputs=engine_output_specs(request.costed_model, request.input_shapes),
            notes=notes,
        )
        return Artifact(plan=plan, manifest=manifest)


def started_providers(session: Any, asked: list[str], notes: list[str]) -> list[str]:
    """The providers ``session`` runs with; a provider asked for that did not start (the
    wrapper falls back without raising) is logged and noted, with the first one's reason."""
    started = [str(p) for p in session.get_providers()]
    missing = [p for p in asked if p not in started]
    if missing:
        reason = (f"{', '.join(missing)} did not start (not in this onnxruntime build, or it "
                  f"refused its options; onnxruntime's log says which): running on "
                  f"{', '.join(started)}")
        LOG.warning("%s", reason)
        notes.append(reason)
    return started


class OnnxRuntimeRunner(BaseRunner):
    """An InferenceSession; ``run`` releases the GIL, so lanes run in parallel threads."""

    def __init__(self, artifact: Artifact, *, threads: int | None = None) -> None:
        super().__init__(artifact, artifact.manifest.lane)
        self.threads = threads
        self._session: Any = None
        self._run: Any = None
        self._output_names = [o.name for o in artifact.manifest.outputs]

    def activate_impl(self) -> None:
        chosen = self.manifest.backend_options
        providers = list(chosen.get("providers") or self.manifest.device.split(","))
        self._session = make_session(self.artifact.plan, providers, self.threads,
                                     chosen.get("provider_options"))
        self._run = _fast_run(self._session)

    def deactivate_impl(self) -> None:
        self._session = None
        self._run = None

    def infer_impl(self, feed: Feed) -> Outputs:
        started = time.perf_counter()
        values = self._run(self._output_names, dict(feed), None)
        self.last_device_time_s = time.perf_counter() - started
        return dict(zip(self._output_names, values, strict=True))


def _fast_run(session: Any) -> Any:
    """The session's C ``run``, skipping the Python wrapper's per-call checks (input names,
    OrtValue ownership, WebGPU graph capture: 25-30 % of a 0.1 ms classifier's inference, on
    the lane thread, under the GIL). Safe because the runtime checks a pipeline's feed against
    the engine before its first frame and feeds numpy arrays of that layout only. Only for a
    CPU-only session: with a GPU provider the wrapper's retry on another provider matters, and
    the public ``run`` is kept (as it is when the wrapper's layout is not the expected one)."""
    inner = getattr(session, "_sess", None)
    if inner is None or not callable(getattr(inner, "run", None)) or \
            session.get_providers() != ["CPUExecutionProvider"]:
        return session.run
    return inner.run
