"""Optimisation profiles: the shape range each dynamic input is built for.

TensorRT needs one profile (min / opt / max per input) when a network has dynamic inputs, and
tunes its kernels for ``opt``. The ranges come from the recipe, in this order:

1. ``inputs.NAME.shape``: a fixed shape, min = opt = max;
2. ``inputs.NAME.min/opt/max``: the range as given;
3. nothing, and only the batch dimension (the first) is dynamic: batch 1 .. ``max_batch``,
   tuned for 1 (a Jetson pipeline runs one frame at a time; batches are the exception);
4. nothing, and the ONNX shape is static: fixed at that shape.

A DLA runs only fixed shapes: "DLA does not support dynamic dimensions" and a profile's min,
opt and max must be equal (TensorRT's "DLA Supported Layers and Restrictions"). So for a DLA
build a range, given or from ``max_batch > 1``, is refused in one line naming the input and the
fix (a fixed ``shape``, ``max_batch: 1``, or the GPU), rather than a build that puts every layer
on the GPU or fails inside TensorRT.

Any other dynamic dimension without a recipe entry is the user's to fix (the cache's request
step already says so; :func:`profile_ranges` repeats it for direct callers). The same ``opt``
shapes are the calibration shapes for implicit INT8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.errors import UserError
from edge_runtime.graph.tensors import TensorSpec

if TYPE_CHECKING:
    import tensorrt

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ShapeRange:
    """One input's shapes: smallest, tuned-for and largest."""

    min: Shape
    opt: Shape
    max: Shape

    @classmethod
    def fixed(cls, shape: Sequence[int]) -> ShapeRange:
        return cls(tuple(shape), tuple(shape), tuple(shape))

    @property
    def is_fixed(self) -> bool:
        return self.min == self.opt == self.max


def profile_ranges(recipe: EngineRecipe, inputs: Sequence[TensorSpec], *,
                   dla: bool = False) -> dict[str, ShapeRange]:
    """The shape range of every model input (see the module docstring for the rules); with
    ``dla``, every range must be one fixed shape."""
    ranges = _ranges(recipe, inputs)
    if dla:
        for name, shapes in ranges.items():
            if not shapes.is_fixed:
                raise UserError(_dla_refusal(recipe, name, shapes), key=f"inputs.{name}")
    return ranges


def _dla_refusal(recipe: EngineRecipe, name: str, shapes: ShapeRange) -> str:
    given = recipe.inputs.get(name)
    where = (f"min/opt/max {list(shapes.min)} .. {list(shapes.max)}" if given is not None
             else f"max_batch: {recipe.max_batch} (batch 1 .. {recipe.max_batch})")
    fix = (f"give inputs.{name}.shape {list(shapes.opt)}" if given is not None
           else f"set max_batch: 1 or inputs.{name}.shape {list(shapes.max)}")
    return (f"a DLA runs only fixed shapes (min = opt = max) and input '{name}' has a range, "
            f"{where}: {fix}, or set target.device: gpu")


def _ranges(recipe: EngineRecipe, inputs: Sequence[TensorSpec]) -> dict[str, ShapeRange]:
    ranges: dict[str, ShapeRange] = {}
    for spec in inputs:
        given = recipe.inputs.get(spec.name)
        if given is not None and given.shape is not None:
            ranges[spec.name] = ShapeRange.fixed(given.shape)
        elif given is not None:
            assert given.min is not None and given.opt is not None and given.max is not None
            ranges[spec.name] = ShapeRange(tuple(given.min), tuple(given.opt), tuple(given.max))
        elif spec.is_static:
            ranges[spec.name] = ShapeRange.fixed([int(d) for d in spec.shape])
        elif spec.shape and all(isinstance(d, int) and d > 0 for d in spec.shape[1:]):
            rest = tuple(int(d) for d in spec.shape[1:])
            ranges[spec.name] = ShapeRange((1, *rest), (1, *rest), (recipe.max_batch, *rest))
        else:
            raise UserError(f"input '{spec.name}' has dynamic dimensions {spec.shape}; give "
                            f"inputs.{spec.name}.shape (or min/opt/max) in the recipe",
                            key="inputs")
    return ranges


def network_dynamic_inputs(network: tensorrt.INetworkDefinition) -> list[str]:
    """Names of the network's inputs with a dynamic (-1) dimension: those need the profile."""
    names = []
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        dims = tensor.shape
        if any(dims[i] < 0 for i in range(len(dims))):
            names.append(tensor.name)
    return names


def add_profile(builder: tensorrt.Builder, config: tensorrt.IBuilderConfig,
                network: tensorrt.INetworkDefinition,
                ranges: dict[str, ShapeRange]) -> tensorrt.IOptimizationProfile | None:
    """Add the profile for the network's dynamic inputs (None when it has none)."""
    import tensorrt as trt

    dynamic = network_dynamic_inputs(network)
    if not dynamic:
        return None
    profile = builder.create_optimization_profile()
    for name in dynamic:
        shapes = ranges[name]
        profile.set_shape(name, trt.Dims(list(shapes.min)), trt.Dims(list(shapes.opt)),
                          trt.Dims(list(shapes.max)))
    if config.add_optimization_profile(profile) < 0:
        raise UserError(f"TensorRT rejected the optimisation profile {ranges}", key="inputs")
    return profile
