"""The io specs an engine promises: inputs as the recipe fixes them, outputs as inferred."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from onnx import ModelProto

from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.graph.analysis import graph_inputs, graph_outputs, with_static_inputs
from edge_runtime.graph.tensors import TensorSpec


def engine_input_specs(model: ModelProto, recipe: EngineRecipe) -> list[TensorSpec]:
    """Declared inputs; a recipe's fixed ``shape`` pins an input, a min/opt/max profile leaves
    its dynamic dimensions dynamic (the engine accepts the whole range)."""
    specs = []
    for declared in graph_inputs(model):
        profile = recipe.inputs.get(declared.name)
        if profile is not None and profile.shape is not None:
            specs.append(TensorSpec(name=declared.name, shape=list(profile.shape),
                                    dtype=declared.dtype))
        else:
            specs.append(declared)
    return specs


def engine_output_specs(model: ModelProto,
                        input_shapes: Mapping[str, Sequence[int]]) -> list[TensorSpec]:
    """Outputs with the shapes shape inference gives at the built input shapes (a dimension
    it cannot resolve keeps its symbolic name)."""
    inferred = with_static_inputs(model, input_shapes)
    return graph_outputs(inferred)
