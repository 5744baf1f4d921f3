"""Loaders build, runners run (the shape of Polygraphy's backends).

A backend supplies two small classes. Its :class:`EngineBuilder` turns a build request (recipe,
ONNX, resolved shapes) into an :class:`Artifact`; :class:`BuildEngine` is the loader that wraps
any builder with the cache, so nothing is built twice. Its runner subclasses :class:`BaseRunner`
and fills ``activate_impl`` / ``infer_impl`` / ``deactivate_impl``; the base holds the checks
(active? inputs match the engine?) and the timing record, so backends stay short and alike.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import numpy as np
from onnx import ModelProto

from edge_runtime import __version__
from edge_runtime.config.power import PowerMode
from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.engines.artifact import Artifact, Manifest
from edge_runtime.engines.cache import EngineCache, cache_key
from edge_runtime.errors import UserError
from edge_runtime.fileio import sha256_bytes
from edge_runtime.graph.analysis import (
    UnresolvedShapeError,
    graph_inputs,
    load_model,
    resolve_input_shapes,
)
from edge_runtime.graph.metadata import model_labels
from edge_runtime.graph.tensors import Feed, Outputs, TensorSpec
from edge_runtime.optimize.calibration import RangesStore
from edge_runtime.optimize.data import PipelineData
from edge_runtime.optimize.passes import Optimized, optimize
from edge_runtime.optimize.progress import Progress, QuietProgress
from edge_runtime.optimize.quantize import Activations

log = logging.getLogger(__name__)

#: Told one line of what a builder is doing now (``Progress.message`` of the optimiser's).
MessageFn = Callable[[str], None]


#: Calibration data: batches of feeds (input name -> array), the one protocol that the
#: onnxruntime calibrators and the TensorRT calibrator adapter both consume.
CalibrationFeeds = Iterable[Feed]


@dataclass(frozen=True)
class BuildRequest:
    """What a builder needs: the recipe, the ONNX to build (bytes and parsed), static input
    shapes and the cache key; plus what the optimisation stages produced before it.

    ``onnx_bytes`` is the model to build: the user's ONNX, or its 2:4-pruned and/or Q/DQ
    (explicitly quantized) form when ``quantized`` is set. ``calibration_cache`` holds the same
    activation ranges in TensorRT's calibration-cache format (implicit INT8, and DLA builds from
    a cache); ``calibration_feeds`` lets a builder calibrate itself when there is no cache.
    ``high_precision_layers`` names ONNX nodes the accuracy gate kept out of INT8.
    ``work_dir`` is a persistent per-backend directory (e.g. TensorRT's timing cache).
    """

    recipe: EngineRecipe
    onnx_bytes: bytes
    model: ModelProto
    input_shapes: dict[str, list[int]]
    key: str
    quantized: bool = False
    calibration_cache: bytes | None = None
    calibration_feeds: CalibrationFeeds | None = None
    high_precision_layers: tuple[str, ...] = ()
    work_dir: Path | None = None
    source_model: ModelProto | None = None

    @property
    def costed_model(self) -> ModelProto:
        """The float graph the work is counted on (a Q/DQ graph has the same layers)."""
        return self.source_model if self.source_model is not None else self.model


class EngineBuilder(ABC):
    """Builds plans for one backend on one device."""

    backend: ClassVar[str]
    #: INT8 flavour of the Q/DQ model this backend runs (see ``edge_runtime.optimize.quantize``).
    int8_activations: Activations = Activations.INT8

    @abstractmethod
    def identity(self) -> dict[str, str]:
        """Backend version and device identity: part of the cache key, so a TensorRT upgrade or
        another GPU never reuses a stale plan."""

    @abstractmethod
    def build(self, request: BuildRequest, progress: MessageFn | None = None) -> Artifact:
        """Build the plan for ``request`` (no caching here; :class:`BuildEngine` does that)."""


def base_manifest_fields(request: BuildRequest, builder: EngineBuilder, plan: bytes,
                         started: float) -> dict[str, object]:
    """Manifest fields every backend fills the same way."""
    recipe = request.recipe
    identity = builder.identity()
    metadata = {p.key: p.value for p in request.model.metadata_props}
    labels = model_labels(request.model)
    return {
        "key": request.key,
        "name": recipe.name or Path(recipe.onnx).stem,
        "backend": builder.backend,
        "backend_version": identity.get("version", "unknown"),
        "device": identity.get("device", "unknown"),
        "precision": recipe.precision.value,
        "sparsity": recipe.sparsity.value,
        "target": recipe.target.device.value,
        "onnx_path": str(recipe.onnx),
        "onnx_sha256": sha256_bytes(request.onnx_bytes),
        "plan_sha256": sha256_bytes(plan),
        "plan_bytes": len(plan),
        "labels": labels,
        "metadata": metadata,
        "build_seconds": round(time.perf_counter() - started, 4),
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"edge_runtime": __version__, "python": platform.python_version(),
                     **{k: v for k, v in identity.items() if k != "device"}},
        "recipe": recipe.model_dump(mode="json"),
    }


@dataclass(frozen=True)
class BuildResult:
    artifact: Artifact
    cache_hit: bool
    seconds: float


class BuildEngine:
    """Loader: recipe -> [optimisation stages] -> cached, verified artifact; builds only on a
    cache miss. The stages (2:4 pruning, calibration, Q/DQ, accuracy gate) run inside it, so a
    cache hit skips them too."""

    def __init__(self, recipe: EngineRecipe, builder: EngineBuilder, cache: EngineCache,
                 *, force: bool = False, progress: Progress | None = None,
                 pipeline: PipelineData | None = None) -> None:
        self.recipe = recipe
        self.builder = builder
        self.cache = cache
        self.force = force
        self.progress: Progress = progress or QuietProgress()
        self.pipeline = pipeline

    def request(self) -> BuildRequest:
        onnx_bytes = Path(self.recipe.onnx).read_bytes()
        model = load_model(onnx_bytes, self.recipe.onnx)
        given = {name: profile.optimal for name, profile in self.recipe.inputs.items()}
        try:
            shapes = resolve_input_shapes(model, given, batch=1)
        except UnresolvedShapeError as exc:
            raise UserError(
                f"input '{exc.input_name}' of {Path(self.recipe.onnx).name} has dynamic "
                f"dimensions {exc.dims}; give inputs.{exc.input_name}.shape (or min/opt/max) "
                f"in the recipe, or on the command line --shapes={exc.input_name}:"
                f"{'x'.join(str(d) if not isinstance(d, int) or d > 0 else 'N' for d in exc.dims)}"
                " with numbers for the names", key="inputs") from None
        unknown = set(given) - set(shapes)
        if unknown:
            raise UserError(f"the model has no input named {sorted(unknown)} (its inputs: "
                            f"{sorted(shapes)})", key="inputs")
        key = cache_key({
            "onnx": sha256_bytes(onnx_bytes),
            "recipe": self.recipe.model_dump(mode="json", exclude={"name", "onnx"}),
            "backend": self.builder.backend,
            "identity": self.builder.identity(),
            "shapes": shapes,
            "pipeline_data": _pipeline_identity(self.pipeline),
            "edge_runtime": __version__,
        })
        return BuildRequest(self.recipe, onnx_bytes, model, shapes, key)

    def _built_by_this_backend(self, cached: Artifact) -> bool:
        """An entry under the right key but built by another backend or backend version (a
        cache restored from a backup, a directory copied from a module on other JetPack) is
        never loaded: a TensorRT plan only deserialises on the version that built it."""
        version = self.builder.identity().get("version", "unknown")
        manifest = cached.manifest
        if (manifest.backend, manifest.backend_version) == (self.builder.backend, version):
            return True
        log.warning("engine cache entry %s was built by %s %s, this is %s %s; rebuilding it",
                    manifest.key, manifest.backend, manifest.backend_version,
                    self.builder.backend, version)
        return False

    def __call__(self) -> BuildResult:
        started = time.perf_counter()
        request = self.request()
        if not self.force:
            cached = self.cache.load(request.key)
            if cached is not None and self._built_by_this_backend(cached):
                return BuildResult(cached, True, time.perf_counter() - started)
        inputs = _sample_specs(request)
        optimized = optimize(self.recipe, request.model, inputs, self.pipeline,
                             RangesStore(self.cache.root / "calibration"), self.progress,
                             self.builder.int8_activations)
        prepared = replace(
            request, onnx_bytes=optimized.model.SerializeToString(), model=optimized.model,
            source_model=optimized.source, quantized=optimized.quantized,
            calibration_cache=optimized.calibration_cache,
            high_precision_layers=optimized.high_precision_layers,
            work_dir=self.cache.root / "work" / self.builder.backend)
        built = self.builder.build(prepared, self.progress.message)
        artifact = _with_optimisation(built, optimized)
        self.cache.store(artifact)
        return BuildResult(artifact, False, time.perf_counter() - started)


def _pipeline_identity(pipeline: PipelineData | None) -> object:
    if pipeline is None:
        return None
    return [pipeline.source.model_dump(mode="json"), pipeline.preprocess.model_dump(mode="json"),
            pipeline.postprocess.model_dump(mode="json") if pipeline.postprocess else None]


def _sample_specs(request: BuildRequest) -> list[TensorSpec]:
    """Inputs at the built shapes, keeping a dynamic batch dimension dynamic (it decides
    whether calibration can batch)."""
    specs = []
    for declared in graph_inputs(request.model):
        shape: list[int | str] = list(request.input_shapes[declared.name])
        if declared.shape and not isinstance(declared.shape[0], int):
            shape[0] = declared.shape[0]
        specs.append(TensorSpec(name=declared.name, shape=shape, dtype=declared.dtype))
    return specs


def _with_optimisation(artifact: Artifact, optimized: Optimized) -> Artifact:
    manifest = artifact.manifest.model_copy(update={
        "accuracy": optimized.accuracy.to_dict() if optimized.accuracy else None,
        "sparsity_report": optimized.sparsity,
        "layer_precisions": optimized.layer_precisions or artifact.manifest.layer_precisions,
        "files": {name: sha256_bytes(data) for name, data in optimized.files.items()},
        "notes": [*artifact.manifest.notes, *optimized.notes],
    })
    return Artifact(artifact.plan, manifest, dict(optimized.files))


class RunnerError(RuntimeError):
    """A runner was misused (inactive, wrong inputs): a bug in the caller."""


class BaseRunner(ABC):
    """Runs one engine. Subclasses fill the ``*_impl`` methods."""

    #: True when ``last_device_time_s`` is a model's answer rather than a measurement (the
    #: simulated Jetson): on the wall clock the lane, not the runner, waits it out.
    simulated_timing: ClassVar[bool] = False
    #: True for an engine that runs off the module (a Triton server on the network): its
    #: speed does not follow the module's clocks, it draws no module power, and it can become
    #: unreachable (:class:`EngineUnavailableError`).
    remote: ClassVar[bool] = False

    def __init__(self, artifact: Artifact, lane: str) -> None:
        self.artifact = artifact
        self.lane = lane
        self.is_active = False
        self.inference_count = 0
        #: Seconds the last inference occupied its lane: modelled on the simulated Jetson,
        #: measured on real backends. The simulated clock advances by this.
        self.last_device_time_s = 0.0
        #: Wall seconds the last ``infer`` call took.
        self.last_wall_time_s = 0.0
        #: Longest the next inference may take before it is abandoned (set per job by the
        #: session from the frame's deadline). Only a remote runner can abandon a request; a
        #: local engine always runs to completion.
        self.timeout_s: float | None = None

    @property
    def manifest(self) -> Manifest:
        return self.artifact.manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    def input_specs(self) -> list[TensorSpec]:
        return list(self.manifest.inputs)

    def output_specs(self) -> list[TensorSpec]:
        return list(self.manifest.outputs)

    def activate(self) -> None:
        if self.is_active:
            return
        self.activate_impl()
        self.is_active = True

    def deactivate(self) -> None:
        if not self.is_active:
            return
        try:
            self.deactivate_impl()
        finally:
            self.is_active = False

    def __enter__(self) -> BaseRunner:
        self.activate()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.deactivate()

    def infer(self, feed: Feed, *, checked: bool = False) -> Outputs:
        """Run one inference. ``checked=True`` skips the feed check for a caller that has
        already checked feeds of this exact layout (the runtime checks a pipeline's first feed
        and reuses its buffers), keeping Python work off the lane thread."""
        if not self.is_active:
            raise RunnerError(f"runner {self.name} is not active; call activate() first")
        if not checked:
            self.check_feed(feed)
        started = time.perf_counter()
        outputs = self.infer_impl(feed)
        self.last_wall_time_s = time.perf_counter() - started
        self.inference_count += 1
        return outputs

    def warmup(self, runs: int = 3) -> float:
        """Run a few inferences on zeros (first runs allocate and pick kernels) and return the
        mean device time of the last ones: the scheduler's first estimate of this engine."""
        feed = {spec.name: np.zeros(spec.concrete_shape(), dtype=spec.numpy_dtype)
                for spec in self.manifest.inputs}
        times = []
        for _ in range(max(runs, 1)):
            self.infer(feed)
            times.append(self.last_device_time_s)
        self.inference_count = 0
        tail = times[1:] or times
        return sum(tail) / len(tail)

    def probe(self) -> str | None:
        """Whether the engine can be reached now: None if so, else why not (one line). Local
        engines always can; a remote runner asks its server (blocking: call it off the loop)."""
        return None

    def reconnect(self) -> None:  # noqa: B027 - optional hook
        """Open the way to the engine afresh, once a probe found it reachable again (default:
        nothing to reopen; a remote runner opens a new channel)."""

    def predicted_device_time_s(self) -> float | None:
        """What one inference will take under the device's current clocks, if the backend can
        say without running (the simulated Jetson can; a real engine must be measured)."""
        return None

    @property
    def max_batch(self) -> int:
        """The largest batch this engine takes in one inference: the recipe's ``max_batch``
        when every input has a dynamic first (batch) dimension, else 1. Outputs are taken to
        be batch-first too (as they are for every model whose inputs are)."""
        specs = self.manifest.inputs
        if not specs or any(not s.shape or isinstance(s.shape[0], int) for s in specs):
            return 1
        return int(self.manifest.recipe.get("max_batch", 1))

    def predicted_latency_s(self, mode: PowerMode, batch: int = 1) -> float | None:
        """What one inference would take in ``mode`` at ``batch`` x the built batch, if the
        backend can say without switching to it (the simulated Jetson can)."""
        return None

    def check_feed(self, feed: Feed) -> None:
        """Raise :class:`RunnerError` unless ``feed`` has this engine's input names, dtypes
        and shapes."""
        expected = {spec.name: spec for spec in self.manifest.inputs}
        if set(feed) != set(expected):
            raise RunnerError(f"{self.name} takes inputs {sorted(expected)}, got {sorted(feed)}")
        for name, array in feed.items():
            spec = expected[name]
            if array.dtype != spec.numpy_dtype:
                raise RunnerError(f"{self.name}: input '{name}' must be {spec.dtype}, "
                                  f"got {array.dtype}")
            if len(array.shape) != len(spec.shape) or any(
                    isinstance(d, int) and d != s for d, s in zip(spec.shape, array.shape,
                                                                  strict=True)):
                raise RunnerError(f"{self.name}: input '{name}' must have shape {spec.shape}, "
                                  f"got {list(array.shape)}")

    @abstractmethod
    def activate_impl(self) -> None: ...

    @abstractmethod
    def infer_impl(self, feed: Feed) -> Outputs: ...

    def deactivate_impl(self) -> None:  # noqa: B027 - optional hook
        """Release resources (default: nothing to release)."""
