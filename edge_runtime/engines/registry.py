"""Backend choice: which builder builds and which runner runs, by name.

Backend modules are imported only when chosen, so TensorRT (or onnxruntime) is never loaded
by a run that does not use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_runtime.config.recipe import BackendName, EngineRecipe, MockOutputs
from edge_runtime.engines.artifact import Artifact
from edge_runtime.engines.base import BaseRunner, BuildEngine, BuildResult, EngineBuilder
from edge_runtime.engines.cache import EngineCache
from edge_runtime.errors import UserError
from edge_runtime.optimize.data import PipelineData
from edge_runtime.optimize.progress import Progress
from edge_runtime.sim.jetson import SimulatedJetson


@dataclass
class EngineContext:
    """What backends need from outside: the cache, the simulated device (mock backend) and
    how many CPU threads an onnxruntime session may use."""

    cache: EngineCache = field(default_factory=EngineCache)
    device: SimulatedJetson | None = None
    cpu_threads: int | None = None


def resolve_backend(requested: BackendName | str | None, recipe: EngineRecipe) -> BackendName:
    """The override if given, else the recipe's; ``auto`` is TensorRT when importable, else
    the simulated Jetson. A ``backend: triton`` recipe names a server, so it keeps its
    backend under any override (``--backend onnxruntime`` runs the local engines on the CPU and
    the offloaded ones where they are); only such a recipe can run on triton."""
    if recipe.backend is BackendName.TRITON:
        return BackendName.TRITON
    name = BackendName(requested) if requested is not None else recipe.backend
    if name is BackendName.TRITON:
        raise UserError(f"backend triton runs a model on a server, and recipe "
                        f"{recipe.name or recipe.onnx} names none; give that recipe "
                        "backend: triton and triton: {url: HOST:PORT, model: NAME}",
                        key="backend")
    if name is not BackendName.AUTO:
        return name
    from edge_runtime.engines.backends.tensorrt import tensorrt_version

    return BackendName.TENSORRT if tensorrt_version() is not None else BackendName.MOCK


def make_builder(backend: BackendName, context: EngineContext,
                 recipe: EngineRecipe | None = None) -> EngineBuilder:
    """The builder of ``backend``; a triton builder is made for one ``recipe`` (its server)."""
    if backend is BackendName.TRITON:
        from edge_runtime.engines.backends.triton import TritonBuilder

        if recipe is None:
            raise ValueError("a triton builder is made for one recipe")
        return TritonBuilder(recipe)
    if backend is BackendName.MOCK:
        from edge_runtime.engines.backends.mock import MockBuilder

        return MockBuilder(_device(context))
    if backend is BackendName.ONNXRUNTIME:
        from edge_runtime.engines.backends.onnxrt import OnnxRuntimeBuilder

        return OnnxRuntimeBuilder()
    if backend is BackendName.TENSORRT:
        from edge_runtime.engines.backends.tensorrt import TensorRTBuilder

        return TensorRTBuilder()
    raise ValueError(f"unresolved backend {backend}")


def build_engine(recipe: EngineRecipe, backend: BackendName, context: EngineContext, *,
                 force: bool = False, progress: Progress | None = None,
                 pipeline: PipelineData | None = None) -> BuildResult:
    """Build (or fetch from the cache) the engine for ``recipe`` on ``backend``; ``pipeline``
    supplies calibration and evaluation data for recipes that say ``source: pipeline``."""
    builder = make_builder(backend, context, recipe)
    return BuildEngine(recipe, builder, context.cache, force=force, progress=progress,
                       pipeline=pipeline)()


def make_runner(artifact: Artifact, context: EngineContext,
                mock_outputs: MockOutputs | None = None) -> BaseRunner:
    """The runner for an artifact, by the backend that built it."""
    backend = artifact.manifest.backend
    if backend == BackendName.MOCK.value:
        from edge_runtime.engines.backends.mock import MockRunner

        return MockRunner(artifact, _device(context), outputs=mock_outputs,
                          cpu_threads=context.cpu_threads or 1)
    if backend == BackendName.ONNXRUNTIME.value:
        from edge_runtime.engines.backends.onnxrt import OnnxRuntimeRunner

        return OnnxRuntimeRunner(artifact, threads=context.cpu_threads)
    if backend == BackendName.TENSORRT.value:
        from edge_runtime.engines.backends.tensorrt import TensorRTRunner

        return TensorRTRunner(artifact)
    if backend == BackendName.TRITON.value:
        from edge_runtime.engines.backends.triton import TritonRunner

        return TritonRunner(artifact)
    raise UserError(f"no runner for backend '{backend}' in this version")


def _device(context: EngineContext) -> SimulatedJetson:
    if context.device is None:
        raise ValueError("the mock backend needs a simulated device in the engine context")
    return context.device
