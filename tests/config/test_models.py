"""Config models: defaults, cross-field rules, path resolution, mode lookup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_runtime.config import load_pipeline_set, load_power_profile, load_recipe
from edge_runtime.config.pipeline import PipelineConfig, Priority
from edge_runtime.config.recipe import EngineRecipe, Precision, ShapeProfile, TargetDevice
from edge_runtime.config.yaml_source import format_key_path, load_yaml


def test_recipe_defaults_and_paths_relative_to_the_recipe(tiny_recipe: Path) -> None:
    recipe = load_recipe(tiny_recipe)
    assert recipe.name == "tiny"
    assert recipe.onnx == tiny_recipe.parent / "tiny.onnx"
    assert recipe.precision is Precision.FP16
    assert recipe.target.device is TargetDevice.GPU and recipe.target.gpu_fallback
    assert recipe.max_batch == 1


@pytest.mark.parametrize("profile, message", [
    ({}, "either 'shape' or all of"),
    ({"shape": [1, 3], "min": [1, 3], "opt": [1, 3], "max": [1, 3]}, "not both"),
    ({"min": [1, 3], "opt": [4, 3], "max": [2, 3]}, "min <= opt <= max"),
    ({"min": [1], "opt": [1, 2], "max": [1, 2]}, "same rank"),
    ({"shape": [1, 0]}, "positive"),
])
def test_shape_profiles_must_be_coherent(profile: dict[str, list[int]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ShapeProfile.model_validate(profile)


def test_a_shape_profile_costs_its_opt_shape() -> None:
    assert ShapeProfile(min=[1, 8], opt=[1, 64], max=[4, 128]).optimal == [1, 64]
    assert ShapeProfile(shape=[1, 3, 8, 8]).optimal == [1, 3, 8, 8]


def test_priority_ranks_put_critical_first() -> None:
    assert [p.rank for p in Priority] == [0, 1, 2, 3]
    assert Priority.CRITICAL.rank < Priority.BEST_EFFORT.rank


def test_engine_shorthand_and_unique_pipeline_names(
        write: Callable[[str, str], Path], tiny_recipe: Path) -> None:
    config = PipelineConfig.model_validate(
        {"name": "a", "source": {"type": "synthetic_camera"}, "engine": "tiny.yaml"})
    assert config.engine.recipe == Path("tiny.yaml")
    path = write("dupes.yaml", """
        pipelines:
          - {name: a, source: {type: synthetic_camera}, engine: tiny.yaml}
          - {name: a, source: {type: synthetic_camera}, engine: tiny.yaml}
    """)
    del tiny_recipe
    with pytest.raises(Exception, match="used twice"):
        load_pipeline_set(path)


def test_pipeline_set_resolves_recipes_profile_and_initial_mode(
        write: Callable[[str, str], Path], tiny_recipe: Path) -> None:
    del tiny_recipe
    path = write("set.yaml", """
        device: jetson-agx-orin-32gb
        power_schedule: [{at_s: 1, mode: MODE_15W}]
        pipelines:
          - {name: a, source: {type: synthetic_camera}, engine: tiny.yaml}
    """)
    loaded = load_pipeline_set(path)
    assert loaded.initial_mode.label == "30W"  # the profile's default (PM_CONFIG DEFAULT=2)
    assert loaded.recipes["a"].name == "tiny"
    assert loaded.config.pipelines[0].priority is Priority.NORMAL


def test_modes_resolve_by_label_name_or_id() -> None:
    profile = load_power_profile("jetson-agx-orin-32gb")
    assert profile.find_mode("15W") is profile.find_mode("MODE_15W") is profile.find_mode(1)
    assert profile.find_mode("mode_40w") is not None
    assert profile.find_mode("25W") is None
    assert profile.find_mode(True) is None  # a YAML 'yes' is not mode 1


def test_yaml_lines_and_key_paths(write: Callable[[str, str], Path]) -> None:
    doc = load_yaml(write("x.yaml", "a: 1\nb:\n  - c: 2\n    d: [1, 2]\n"))
    assert doc.lines[("b", 0, "d")] == 4
    assert doc.line_of(("b", 0, "missing")) == 3
    assert format_key_path(("pipelines", 0, "source", "fps")) == "pipelines[0].source.fps"


def test_recipe_model_is_strict() -> None:
    with pytest.raises(ValidationError):
        EngineRecipe.model_validate({"onnx": "m.onnx", "precison": "fp16"})
