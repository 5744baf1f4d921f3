"""The engines of a pipeline set: built (or loaded from the cache), activated, warmed up.

Loaders build, runners run: this module asks the engine layer for an artifact per pipeline
(through the verified cache, so a second ``configure`` is all cache hits), opens its runner and
warms it up, which gives the scheduler its first run-time estimate. Two pipelines that run the
same recipe share the artifact and get a runner each. A pipeline's engine variants
(``variants:``) are built and warmed up with it, so the planner can move it between lanes
without a build at the moment a power mode changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.config.loading import LoadedPipelineSet
from edge_runtime.config.pipeline import EngineRef, PipelineConfig, Priority
from edge_runtime.config.recipe import BackendName, EngineRecipe, MockOutputs
from edge_runtime.config.stages import ExternalSourceConfig, TokenizeConfig
from edge_runtime.engines.base import BaseRunner, BuildResult
from edge_runtime.engines.registry import (
    EngineContext,
    build_engine,
    make_runner,
    resolve_backend,
)
from edge_runtime.engines.specs import engine_input_specs, engine_output_specs
from edge_runtime.errors import EngineUnavailableError, UserError
from edge_runtime.graph.analysis import UnresolvedShapeError, load_model, resolve_input_shapes
from edge_runtime.optimize.data import PipelineData
from edge_runtime.optimize.passes import needs_pipeline
from edge_runtime.optimize.progress import Progress
from edge_runtime.pipelines.postprocess import postprocess_misfit
from edge_runtime.pipelines.preprocess import preprocess_misfit
from edge_runtime.runtime.summary import EngineInfo

log = logging.getLogger(__name__)


@dataclass
class LoadedEngine:
    """A pipeline's engine, ready to run."""

    runner: BaseRunner
    info: EngineInfo
    real_outputs: bool
    expected_run_s: float
    #: The pipeline's other variants, in its order of preference.
    alternatives: list[LoadedEngine] = field(default_factory=list)
    #: A sequence engine's run time per (batch size, padded length) (``profile_sequences``).
    sequences: dict[tuple[int, int], float] = field(default_factory=dict)

    @property
    def all_variants(self) -> list[LoadedEngine]:
        """This engine first, then its alternatives."""
        return [self, *self.alternatives]


class EngineSet:
    """Builds and holds the runners of the pipelines it is given."""

    def __init__(self, context: EngineContext, backend: BackendName | None,
                 mock_outputs: MockOutputs | None) -> None:
        self.context = context
        self.backend = backend
        self.mock_outputs = mock_outputs
        self.engines: dict[str, LoadedEngine] = {}

    def load(self, loaded: LoadedPipelineSet, names: list[str],
             progress: Progress | None = None) -> dict[str, LoadedEngine]:
        """Build (or fetch) and activate the engines of the named pipelines; returns them
        without installing them (a reload builds while the old engines still run)."""
        built: dict[tuple[Path, BackendName, str, str], BuildResult] = {}
        result: dict[str, LoadedEngine] = {}
        try:
            for index, pipeline in enumerate(loaded.config.pipelines):
                if pipeline.name not in names:
                    continue
                engine: LoadedEngine | None = None
                unreachable: list[tuple[str, str]] = []  # (engine, why)
                for ref, recipe, where in _engines_of(loaded, index):
                    _check_offload(loaded, index, recipe, where)
                    _check_pipeline_data(loaded, index, recipe, where or ("source",))
                    _check_stages(loaded, index, recipe, where)
                    try:
                        loaded_one = self._load_one(pipeline, ref, recipe, built, progress)
                    except EngineUnavailableError as exc:
                        log.warning("pipeline %s: engine %s left out: %s", pipeline.name,
                                    recipe.name, exc)
                        unreachable.append((str(recipe.name), str(exc)))
                        continue
                    if engine is None:
                        engine = result[pipeline.name] = loaded_one
                    else:
                        engine.alternatives.append(loaded_one)
                        _check_same_inputs(loaded, index, engine, loaded_one, where)
                if engine is None:
                    raise loaded.document.error(
                        ("pipelines", index, "engine"),
                        f"no engine of pipeline '{pipeline.name}' can run: "
                        f"{unreachable[0][1]} (start the server, "
                        "e.g. edge-runtime triton serve-models, or list a local variant)")
                engine.info.notes.extend(f"engine {name} left out: {why}"
                                         for name, why in unreachable)
        except BaseException:
            release(result.values())
            raise
        return result

    def install(self, engines: dict[str, LoadedEngine]) -> list[LoadedEngine]:
        """Make ``engines`` current; returns the engines they replace (the caller releases
        them once nothing runs on them)."""
        replaced = [self.engines[name] for name in engines if name in self.engines]
        self.engines.update(engines)
        return replaced

    def remove(self, names: list[str]) -> list[LoadedEngine]:
        return [self.engines.pop(name) for name in names if name in self.engines]

    def release_all(self) -> None:
        release(self.engines.values())
        self.engines.clear()

    def _load_one(self, pipeline: PipelineConfig, ref: EngineRef, recipe: EngineRecipe,
                  built: dict[tuple[Path, BackendName, str, str], BuildResult],
                  progress: Progress | None) -> LoadedEngine:
        try:
            return self._load(pipeline, ref, recipe, built, progress)
        except UserError as exc:
            if exc.file is not None:
                raise
            # a mistake the engine layer found in the recipe (a lane, a reference network):
            # said against the recipe's file
            raise UserError(exc.message, file=ref.recipe, key=exc.key) from None

    def _load(self, pipeline: PipelineConfig, ref: EngineRef, recipe: EngineRecipe,
              built: dict[tuple[Path, BackendName, str, str], BuildResult],
              progress: Progress | None) -> LoadedEngine:
        backend = resolve_backend(self.backend, recipe)
        data = PipelineData(pipeline.source, pipeline.preprocess, pipeline.postprocess) \
            if needs_pipeline(recipe) else None
        key = (Path(recipe.onnx), backend, recipe.model_dump_json(),
               pipeline.name if data is not None else "")
        if key not in built:
            built[key] = build_engine(recipe, backend, self.context, progress=progress,
                                      pipeline=data)
        result = built[key]
        mock_outputs = self.mock_outputs or ref.mock_outputs
        runner = make_runner(result.artifact, self.context, mock_outputs)
        real = backend is not BackendName.MOCK or \
            getattr(runner, "outputs_mode", None) is MockOutputs.ONNXRUNTIME
        runner.activate()
        try:
            expected = runner.warmup()
            sequences = profile_sequences(runner, pipeline.preprocess.max_length) \
                if isinstance(pipeline.preprocess, TokenizeConfig) else {}
        except BaseException:
            runner.deactivate()
            raise
        manifest = result.artifact.manifest
        info = EngineInfo(pipeline.name, manifest.name, manifest.backend, manifest.lane,
                          manifest.precision, result.cache_hit, round(result.seconds, 4),
                          manifest.key, real, list(manifest.notes))
        return LoadedEngine(runner, info, real, expected, sequences=sequences)


#: Padded lengths a sequence engine is profiled at (up to the pipeline's ``max_length``,
#: which is always profiled): dense where commands are, sparse in the long tail.
PROFILE_LENGTHS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512)
#: Runs per profiled point; the median is kept (the first run of a new shape allocates).
PROFILE_RUNS = 3


def profile_sequences(runner: BaseRunner, max_length: int) -> dict[tuple[int, int], float]:
    """Seconds one inference of a sequence engine takes per (batch size, padded length),
    measured on the engine itself: the cost model's prior for length-aware batching
    (``scheduler.core`` rule 12), since a sequence model's run time follows batch x length
    and no single warm-up shape says it. Token ids are zeros with a full mask: run time does
    not depend on the ids."""
    lengths = sorted({*(n for n in PROFILE_LENGTHS if n < max_length), max_length})
    profile: dict[tuple[int, int], float] = {}
    for size in range(1, runner.max_batch + 1):
        for length in lengths:
            feed = {spec.name: np.ones((size, length), dtype=spec.numpy_dtype)
                    for spec in runner.input_specs()}
            times = []
            for _ in range(PROFILE_RUNS):
                runner.infer(feed)
                times.append(runner.last_device_time_s)
            profile[(size, length)] = sorted(times)[len(times) // 2]
    runner.inference_count = 0
    return profile


def _engines_of(loaded: LoadedPipelineSet, index: int
                ) -> list[tuple[EngineRef, EngineRecipe, tuple[str | int, ...]]]:
    """A pipeline's engines: its ``engine`` (at no extra key), then each of its ``variants``
    (at ``variants[k]``), with their recipes."""
    pipeline = loaded.config.pipelines[index]
    variants = loaded.variants.get(pipeline.name, [])
    return [(pipeline.engine, loaded.recipes[pipeline.name], ()),
            *((ref, recipe, ("variants", number)) for number, (ref, recipe)
              in enumerate(zip(pipeline.variants, variants, strict=True)))]


def _check_same_inputs(loaded: LoadedPipelineSet, index: int, engine: LoadedEngine,
                       other: LoadedEngine, key: tuple[str | int, ...]) -> None:
    """A variant must take what the pipeline's preprocess makes for its engine: the planner
    swaps engines under frames already prepared."""
    mine = [(s.name, s.concrete_shape(), s.dtype) for s in engine.runner.input_specs()]
    theirs = [(s.name, s.concrete_shape(), s.dtype) for s in other.runner.input_specs()]
    if mine != theirs:
        raise loaded.document.error(
            ("pipelines", index, *key),
            f"variant {other.info.engine} takes inputs {theirs}, but the pipeline's engine "
            f"{engine.info.engine} takes {mine} (a variant must be the same model's input, "
            "built another way)")


def _check_offload(loaded: LoadedPipelineSet, index: int, recipe: EngineRecipe,
                   key: tuple[str | int, ...] = ()) -> None:
    """A critical pipeline never depends on the network unless its config says so
    (``critical_offload``)."""
    pipeline = loaded.config.pipelines[index]
    if recipe.backend is BackendName.TRITON and pipeline.priority is Priority.CRITICAL \
            and not pipeline.critical_offload:
        raise loaded.document.error(
            ("pipelines", index, *(key or ("engine",))),
            f"pipeline '{pipeline.name}' is critical and engine {recipe.name} runs on a triton "
            "server over the network; a critical deadline does not depend on a network "
            "unless you say so (critical_offload: true), or give it a local engine")


def _check_pipeline_data(loaded: LoadedPipelineSet, index: int, recipe: EngineRecipe,
                         key: tuple[str | int, ...] = ("source",)) -> None:
    """A recipe that calibrates or is gated on its pipeline's frames cannot serve a pipeline
    whose frames are pushed by the host: say so against the pipeline's source, before any
    build starts."""
    pipeline = loaded.config.pipelines[index]
    if isinstance(pipeline.source, ExternalSourceConfig) and needs_pipeline(recipe):
        raise loaded.document.error(
            ("pipelines", index, *key),
            f"pipeline '{pipeline.name}' takes pushed frames, so its recipe {recipe.name} has "
            f"no frames to calibrate or check {recipe.precision.value} accuracy on (give the "
            "recipe data of its own: calibration.data / evaluation.data, or precision: fp32)")


def _check_stages(loaded: LoadedPipelineSet, index: int, recipe: EngineRecipe,
                  where: tuple[str | int, ...] = ()) -> None:
    """The pipeline's preprocess makes tensors its engine's input takes, and its postprocess
    decodes the engine's outputs; checked against the ONNX before any build starts, so a
    mismatch is one line at the pipeline's key (``where``: the variant's, for a variant),
    not onnxruntime's INVALID_ARGUMENT during the build's evaluation or every frame failing
    once it runs."""
    pipeline = loaded.config.pipelines[index]
    model = load_model(Path(recipe.onnx).read_bytes(), recipe.onnx)
    given = {name: profile.optimal for name, profile in recipe.inputs.items()}
    try:
        shapes = resolve_input_shapes(model, given, batch=1)
    except UnresolvedShapeError:
        return  # the build says which shape the recipe must give
    misfit = preprocess_misfit(pipeline.preprocess, engine_input_specs(model, recipe))
    if misfit is not None:
        key, message = misfit
        raise loaded.document.error(("pipelines", index, *(where or ("preprocess", *key))),
                                    message)
    if pipeline.postprocess is not None:
        post_misfit = postprocess_misfit(pipeline.postprocess,
                                         engine_output_specs(model, shapes))
        if post_misfit is not None:
            key, message = post_misfit
            raise loaded.document.error(
                ("pipelines", index, *(where or ("postprocess", *key))), message)


def release(engines: Iterable[LoadedEngine]) -> None:
    """Deactivate the runners of ``engines`` and of their variants."""
    for engine in engines:
        for variant in engine.all_variants:
            variant.runner.deactivate()
