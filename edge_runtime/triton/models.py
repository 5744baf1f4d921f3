"""ENGINE arguments (recipe YAML files or ONNX files) as models for a Triton server.

A recipe (``engines/*.yaml``, loaded as ``edge-runtime build`` loads it) gives the model's name
(its ``name``, else the file's stem), its ONNX file and its largest batch: the largest of the
recipe's ``max_batch`` and the first (batch) axis of every input's ``shape`` or ``max`` shape.
A plain ``.onnx`` file is served under its stem with batches up to :data:`ONNX_MAX_BATCH` when
its batch axis is dynamic (1 when fixed). ``max_batch_size`` overrides both.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from edge_runtime.config.loading import load_recipe
from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.errors import UserError
from edge_runtime.graph.analysis import graph_inputs, load_model
from edge_runtime.triton.launch import TritonModelSpec

#: The largest batch of a plain ONNX model with a dynamic batch axis, unless told.
ONNX_MAX_BATCH = 8
RECIPE_SUFFIXES = (".yaml", ".yml")


def recipe_max_batch(recipe: EngineRecipe) -> int:
    """The largest batch a recipe's engine takes: its ``max_batch``, or the batch axis of an
    input's fixed ``shape`` or profile ``max``, whichever is larger."""
    firsts = [(profile.shape if profile.shape is not None else profile.max or [1])[0]
              for profile in recipe.inputs.values()]
    return max([recipe.max_batch, *firsts])


def model_specs(paths: Iterable[str | Path], *, max_queue_delay_us: int,
                max_batch_size: int | None = None, instances: int = 1,
                cpu_threads: int = 1) -> list[TritonModelSpec]:
    """One :class:`TritonModelSpec` per path (a recipe or an ONNX file); a :class:`UserError`
    naming the file for a path that is neither, is missing, or cannot be served."""
    specs: list[TritonModelSpec] = []
    for given in paths:
        path = Path(given)
        spec = _spec(path, max_queue_delay_us=max_queue_delay_us,
                     max_batch_size=max_batch_size, instances=instances,
                     cpu_threads=cpu_threads)
        if any(other.name == spec.name for other in specs):
            raise UserError(f"a second model named {spec.name!r}; give each ENGINE a "
                            "different name (the recipe's name:, or rename the file)",
                            file=path)
        specs.append(spec)
    if not specs:
        raise UserError("no ENGINE given: name recipe files (engines/*.yaml) or ONNX files")
    return specs


def _spec(path: Path, *, max_queue_delay_us: int, max_batch_size: int | None, instances: int,
          cpu_threads: int) -> TritonModelSpec:
    if not path.is_file():
        raise UserError("not found (give a recipe .yaml or an .onnx file)", file=path)
    suffix = path.suffix.lower()
    wanted: int | None
    if suffix in RECIPE_SUFFIXES:
        recipe = load_recipe(path)
        onnx, name = recipe.onnx, recipe.name or path.stem
        wanted = max_batch_size or recipe_max_batch(recipe)
    elif suffix == ".onnx":
        onnx, name, wanted = path, path.stem, max_batch_size
    else:
        raise UserError("neither a recipe (.yaml) nor an ONNX model (.onnx)", file=path)
    batch = _check_batch_axis(onnx, wanted, source=path)
    try:
        return TritonModelSpec(name=name, onnx=onnx.resolve(), max_batch_size=batch,
                               max_queue_delay_us=max_queue_delay_us, instances=instances,
                               cpu_threads=cpu_threads)
    except UserError as exc:
        raise UserError(exc.message, file=path) from None


def _check_batch_axis(onnx: Path, wanted: int | None, *, source: Path) -> int:
    """The max batch to serve ``onnx`` with: ``wanted``, else :data:`ONNX_MAX_BATCH` or the
    fixed first axis. Every input needs a first (batch) axis that allows it."""
    inputs = graph_inputs(load_model(onnx.read_bytes(), onnx))
    fixed: list[int] = []
    for spec in inputs:
        if not spec.shape:
            raise UserError(f"input '{spec.name}' is a scalar; a served model's inputs need a "
                            "first (batch) axis", file=source)
        first = spec.shape[0]
        if isinstance(first, int) and first > 0:
            fixed.append(first)
    limit = min(fixed) if fixed else None
    batch = wanted if wanted is not None else (limit or ONNX_MAX_BATCH)
    if limit is not None and batch > limit:
        raise UserError(f"the model's batch axis is fixed at {limit} (input shapes "
                        f"{', '.join(s.describe() for s in inputs)}): serve it with a max "
                        f"batch of {limit}, or export it with a dynamic batch axis",
                        file=source)
    return batch
