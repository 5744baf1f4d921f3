"""The TensorRT builder: recipe + ONNX -> serialized plan + manifest.

One build, in order (each step is a function in a sibling module, so it is tested alone):

1. decide the precision switches (:mod:`.precision`): pure, before TensorRT is touched;
2. create the network (``EXPLICIT_BATCH`` before 10.0, ``STRONGLY_TYPED`` on 11) and parse the
   ONNX, with per-node parser errors (:mod:`.network`);
3. configure: workspace pool, precision flags, 2:4 sparse weights, the optimisation profile
   (:mod:`.profiles`), an implicit INT8 calibrator when needed (:mod:`.calibrator`), pinned
   high-precision layers, DLA core + GPU fallback with its placement report, the timing cache
   (:mod:`.timing_cache`) and a progress monitor on 10.0+ (:mod:`.progress`);
4. ``build_serialized_network`` (the only build call: ``build_engine`` is gone in 10.0), then
   save the timing cache and write the manifest.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from edge_runtime.config.recipe import Sparsity, TargetDevice
from edge_runtime.engines.artifact import Artifact, Manifest
from edge_runtime.engines.backends.tensorrt.calibrator import (
    CalibrationInput,
    make_calibrator,
    retag_cache,
)
from edge_runtime.engines.backends.tensorrt.callbacks import CallbackErrors
from edge_runtime.engines.backends.tensorrt.cuda import CudaApi, load_cuda_api
from edge_runtime.engines.backends.tensorrt.logger import ErrorTail, capture_errors, shared_logger
from edge_runtime.engines.backends.tensorrt.network import (
    Placement,
    dla_placement,
    network_flags,
    parse_onnx,
    pin_precision,
    target_dla,
)
from edge_runtime.engines.backends.tensorrt.precision import (
    PrecisionPlan,
    onnx_has_fp16,
    plan_precision,
)
from edge_runtime.engines.backends.tensorrt.profiles import (
    add_profile,
    network_dynamic_inputs,
    profile_ranges,
)
from edge_runtime.engines.backends.tensorrt.progress import make_progress_monitor
from edge_runtime.engines.backends.tensorrt.timing_cache import (
    load_timing_cache,
    save_timing_cache,
    timing_cache_path,
)
from edge_runtime.engines.backends.tensorrt.versions import (
    TrtVersion,
    require_supported,
    tensorrt_version,
)
from edge_runtime.engines.base import (
    BuildRequest,
    EngineBuilder,
    MessageFn,
    base_manifest_fields,
)
from edge_runtime.engines.specs import engine_input_specs, engine_output_specs
from edge_runtime.errors import MissingDependencyError, UserError
from edge_runtime.fileio import atomic_write_bytes
from edge_runtime.graph.analysis import graph_inputs

if TYPE_CHECKING:
    import tensorrt


def _quiet(message: str) -> None:
    del message


class TensorRTBuilder(EngineBuilder):
    """Builds TensorRT plans on this device (TensorRT 8.4 - 11)."""

    backend = "tensorrt"

    def __init__(self, *, cuda: CudaApi | None = None) -> None:
        version = tensorrt_version()
        if version is None:
            raise MissingDependencyError("TensorRT", "tensorrt",
                                         "it ships with JetPack on a Jetson; on x86 use "
                                         "--backend mock or onnxruntime")
        self.version_text = version
        self.version = require_supported(TrtVersion.parse(version))
        self._cuda = cuda
        self._identity: dict[str, str] | None = None

    @property
    def cuda(self) -> CudaApi:
        if self._cuda is None:
            self._cuda = load_cuda_api()
        return self._cuda

    def identity(self) -> dict[str, str]:
        """TensorRT's full version, the GPU and its compute capability (``Orin sm87``) and the
        number of DLA cores: a plan is valid for exactly one of each. The DLA core an engine
        targets is in the recipe, which is the other half of the cache key."""
        if self._identity is None:
            import tensorrt as trt

            dla_cores = trt.Builder(shared_logger()).num_DLA_cores
            self._identity = {"version": self.version_text, "device": self.cuda.device().label,
                              "dla_cores": str(dla_cores)}
        return self._identity

    def build(self, request: BuildRequest, progress: MessageFn | None = None) -> Artifact:
        """One build (see the module docstring), with TensorRT's errors captured for its
        one-line failure and the exceptions of our callbacks re-raised once it returns."""
        with capture_errors() as logged:
            return self._build(request, progress, logged)

    def _build(self, request: BuildRequest, progress: MessageFn | None,
               logged: ErrorTail) -> Artifact:
        import tensorrt as trt

        started = time.perf_counter()
        say = progress or _quiet
        recipe = request.recipe
        has_calibration = bool(request.calibration_cache) or request.calibration_feeds is not None
        plan = plan_precision(recipe, self.version, quantized=request.quantized,
                              has_calibration=has_calibration,
                              model_has_fp16=onnx_has_fp16(request.model),
                              pin_layers=bool(request.high_precision_layers))
        notes = list(plan.notes)
        if plan.float_graph and recipe.sparsity is Sparsity.TWO_FOUR:
            notes.append("the DLA build parses the unpruned float graph: 2:4 pruning applies "
                         "to the Q/DQ (GPU) model only")

        model = request.costed_model if plan.float_graph else request.model
        onnx_bytes = model.SerializeToString() if plan.float_graph else request.onnx_bytes

        logger = shared_logger()
        callbacks = CallbackErrors()
        builder = trt.Builder(logger)
        network = builder.create_network(
            network_flags(self.version, strongly_typed=plan.strongly_typed))
        say(f"parsing {Path(recipe.onnx).name} with the TensorRT {self.version.short} parser")
        parser = parse_onnx(network, logger, onnx_bytes, model, str(recipe.onnx))

        config = builder.create_builder_config()
        if recipe.workspace_mb is not None:  # memory pools: 8.4+ (require_supported)
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, recipe.workspace_mb << 20)
        self._set_precision(config, plan)
        if recipe.sparsity is Sparsity.TWO_FOUR:
            config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        on_dla = self._builds_for_dla(builder, request)
        ranges = profile_ranges(recipe, graph_inputs(request.model), dla=on_dla)
        if on_dla and network_dynamic_inputs(network):
            notes.append("DLA profile fixed at " + ", ".join(
                f"{name} {'x'.join(map(str, r.opt))}" for name, r in ranges.items()))
        profile = add_profile(builder, config, network, ranges)
        calibrator = self._calibrator(config, request, plan, profile, notes, callbacks,
                                      ranges_opt={name: r.opt for name, r in ranges.items()})
        if plan.pin_to is not None:
            pinned, missing = pin_precision(network, model, request.high_precision_layers,
                                            plan.pin_to)
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
            notes.append(f"{len(pinned)} layers pinned to {plan.pin_to.lower()} for accuracy")
            if missing:
                notes.append(f"high-precision nodes with no TensorRT layer: {missing}")
        placement = self._placement(builder, network, config, request)
        notes.extend(placement.notes())

        cache_file = self._timing_cache_file(request)
        load_timing_cache(config, cache_file)
        monitor = self._monitor(config, progress, callbacks)
        serialized = builder.build_serialized_network(network, config)
        callbacks.raise_first()  # a callback's failure, not TensorRT's consequence of it
        if serialized is None:
            raise self._build_failed(logged, recipe.name or Path(recipe.onnx).stem)
        plan_bytes = bytes(serialized)
        if cache_file is not None:
            size = save_timing_cache(config, cache_file)
            say(f"timing cache: {size} bytes in {cache_file}")
        del calibrator, monitor, parser  # TensorRT held raw pointers to them until here
        say(f"serialized plan: {len(plan_bytes) / 1e6:.1f} MB")
        return Artifact(plan=plan_bytes,
                        manifest=self._manifest(request, plan, placement, notes, plan_bytes,
                                                started))

    def _monitor(self, config: tensorrt.IBuilderConfig, progress: MessageFn | None,
                 callbacks: CallbackErrors) -> tensorrt.IProgressMonitor | None:
        """A progress monitor on 10.0+ (it also cancels the build once a callback failed);
        before, one coarse line."""
        if self.version.has_progress_monitor and progress is not None:
            monitor = make_progress_monitor(progress, callbacks)
            config.progress_monitor = monitor
            return monitor
        if progress is not None:
            progress(f"building with TensorRT {self.version.short} (no progress reports "
                     "before 10.0; minutes on a Jetson)")
        return None

    def _set_precision(self, config: tensorrt.IBuilderConfig, plan: PrecisionPlan) -> None:
        """Precision flags exist only with weak typing (TensorRT < 11)."""
        import tensorrt as trt

        if plan.strongly_typed:
            return
        if plan.fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        if plan.int8:
            config.set_flag(trt.BuilderFlag.INT8)

    def _calibrator(self, config: tensorrt.IBuilderConfig, request: BuildRequest,
                    plan: PrecisionPlan, profile: tensorrt.IOptimizationProfile | None,
                    notes: list[str], callbacks: CallbackErrors,
                    ranges_opt: dict[str, tuple[int, ...]]) -> tensorrt.IInt8Calibrator | None:
        """An implicit INT8 calibrator (TensorRT 8.4 - 10.x) when the plan calls for one."""
        if not plan.calibrate:
            return None
        if not self.version.has_implicit_int8:  # plan_precision already refuses this on 11
            raise UserError("this TensorRT has no INT8 calibrators; use a Q/DQ model",
                            key="precision")
        recipe = request.recipe
        method = recipe.calibration.method
        inputs = {spec.name: CalibrationInput(ranges_opt[spec.name], spec.numpy_dtype)
                  for spec in graph_inputs(request.model)}
        batch = min((shape[0] for shape in ranges_opt.values() if shape), default=1)
        cache_out = self._calibration_cache_file(request)

        def keep_cache(data: bytes) -> None:
            if cache_out is not None:
                atomic_write_bytes(cache_out, data)
                notes.append(f"calibration cache written to {cache_out}")

        cache_in = retag_cache(request.calibration_cache, self.version_text) \
            if request.calibration_cache else None
        calibrator = make_calibrator(
            method, request.calibration_feeds, batch, cache_in, keep_cache,
            inputs=inputs, cuda=self.cuda if request.calibration_feeds is not None else None,
            errors=callbacks, dla=recipe.target.device is not TargetDevice.GPU)
        config.int8_calibrator = calibrator
        if profile is not None:  # dynamic shapes calibrate at the profile's opt shapes
            config.set_calibration_profile(profile)
        return calibrator

    def _builds_for_dla(self, builder: tensorrt.Builder, request: BuildRequest) -> bool:
        """Whether this build targets a DLA core it will get (see :meth:`_placement`)."""
        device = request.recipe.target.device
        return (device is not TargetDevice.GPU and self.version.has_dla
                and int(device.value.removeprefix("dla")) < builder.num_DLA_cores)

    def _placement(self, builder: tensorrt.Builder, network: tensorrt.INetworkDefinition,
                   config: tensorrt.IBuilderConfig, request: BuildRequest) -> Placement:
        """GPU, or a DLA core with GPU fallback and the report of what falls back."""
        target = request.recipe.target
        if target.device is TargetDevice.GPU:
            return Placement(lane="gpu")
        core = int(target.device.value.removeprefix("dla"))
        if not self.version.has_dla:
            if not target.gpu_fallback:
                raise UserError(f"TensorRT {self.version.short} does not support DLA; build "
                                "with the TensorRT 10.3 of JetPack 6, or set "
                                "target.gpu_fallback: true to run it on the GPU",
                                key="target.device")
            return Placement(lane="gpu")
        if core >= builder.num_DLA_cores:
            if not target.gpu_fallback:
                raise UserError(f"this device has {builder.num_DLA_cores} DLA cores, no "
                                f"{target.device.value}, and gpu_fallback is off",
                                key="target.device")
            return Placement(lane="gpu")
        target_dla(config, core, gpu_fallback=target.gpu_fallback)
        return dla_placement(network, config, core, gpu_fallback=target.gpu_fallback)

    def _timing_cache_file(self, request: BuildRequest) -> Path | None:
        if request.work_dir is None:
            return None
        return timing_cache_path(request.work_dir, self.version_text, self.identity()["device"])

    @staticmethod
    def _calibration_cache_file(request: BuildRequest) -> Path | None:
        if request.work_dir is None:
            return None
        return request.work_dir / "calibration" / f"{request.key}.cache"

    def _build_failed(self, errors: ErrorTail, name: str) -> UserError:
        reason = errors.last() or "no reason given; run with logging at DEBUG for TensorRT's log"
        return UserError(f"TensorRT {self.version.short} could not build {name}: {reason}",
                         key="recipe")

    def _manifest(self, request: BuildRequest, plan: PrecisionPlan, placement: Placement,
                  notes: list[str], plan_bytes: bytes, started: float) -> Manifest:
        fields = base_manifest_fields(request, self, plan_bytes, started)
        fields["precision"] = plan.effective.value
        if placement.dla_core is not None:
            if placement.lane == "gpu":
                notes.append(f"no layer runs on DLA core {placement.dla_core}: the engine "
                             "runs on the GPU")
        elif request.recipe.target.device is not TargetDevice.GPU and not self.version.has_dla:
            notes.append(f"TensorRT {self.version.short} has no DLA support: the engine runs "
                         "on the GPU")
        elif request.recipe.target.device is not TargetDevice.GPU:
            notes.append(f"no {request.recipe.target.device.value} on this device: the engine "
                         "runs on the GPU")
        return Manifest(
            **fields,
            lane=placement.lane,
            backend_options=placement.to_options(),
            inputs=engine_input_specs(request.model, request.recipe),
            outputs=engine_output_specs(request.model, request.input_shapes),
            notes=notes,
        )
