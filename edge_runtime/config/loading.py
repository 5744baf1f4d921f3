"""Load config files into validated models, with the checks a schema alone cannot make.

The schema catches typos and wrong types; this module adds the checks that need the file
system or another file: does the ONNX exist, does the recipe a pipeline names exist, is the
initial power mode one the device has. Each failure still names FILE:LINE and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.config.assets import power_dir
from edge_runtime.config.pipeline import PipelineConfig, PipelineSet
from edge_runtime.config.power import PowerMode, PowerProfile
from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.config.validation import load_config
from edge_runtime.config.yaml_source import YamlDocument
from edge_runtime.errors import UserError


def load_recipe(path: str | Path) -> EngineRecipe:
    """An engine recipe whose ONNX file exists."""
    recipe, doc = load_config(str(path), EngineRecipe)
    if not recipe.onnx.is_file():
        raise doc.error(("onnx",), f"ONNX file not found: {recipe.onnx} (paths are relative to "
                                   "the recipe file)")
    if recipe.name is None:
        recipe = recipe.model_copy(update={"name": Path(path).stem})
    return recipe


def bundled_profiles() -> list[str]:
    """Names of the shipped power profiles."""
    return sorted(p.stem for p in power_dir().glob("*.yaml"))


def load_power_profile(name_or_path: str | Path) -> PowerProfile:
    """A shipped profile by module name (``jetson-agx-orin-32gb``) or a profile YAML path."""
    text = str(name_or_path)
    path = Path(text) if text.endswith((".yaml", ".yml")) else power_dir() / f"{text}.yaml"
    if not path.is_file():
        known = ", ".join(bundled_profiles())
        raise UserError(f"unknown device '{text}' (known: {known}; or give a profile YAML path)")
    profile, _ = load_config(str(path), PowerProfile)
    return profile


@dataclass(frozen=True)
class LoadedPipelineSet:
    """A validated pipeline set with its recipes and device profile resolved."""

    path: Path
    config: PipelineSet
    recipes: dict[str, EngineRecipe]
    profile: PowerProfile
    initial_mode: PowerMode
    document: YamlDocument
    #: Each pipeline's other engine variants (``variants:``), in its order of preference.
    variants: dict[str, list[EngineRecipe]] = field(default_factory=dict)


def load_pipeline_set(path: str | Path) -> LoadedPipelineSet:
    """A pipeline set, the recipes it names and its device profile, all checked."""
    config, doc = load_config(str(path), PipelineSet)
    recipes: dict[str, EngineRecipe] = {}
    for index, pipeline in enumerate(config.pipelines):
        recipe_path = pipeline.engine.recipe
        if not recipe_path.is_file():
            raise doc.error(("pipelines", index, "engine"),
                            f"engine recipe not found: {recipe_path} (paths are relative to the "
                            "pipeline file)")
        recipes[pipeline.name] = load_recipe(recipe_path)
    variants = {pipeline.name: _variants(doc, index, pipeline, recipes[pipeline.name].name)
                for index, pipeline in enumerate(config.pipelines)}
    try:
        profile = load_power_profile(config.device)
    except UserError as exc:
        if exc.file is not None:
            raise
        raise doc.error(("device",), exc.message) from None
    mode = _checked_mode(doc, ("power", "mode"), profile, config.power.mode) \
        if config.power.mode is not None else \
        _checked_mode(doc, ("power_mode",), profile, config.power_mode)
    for index, switch in enumerate(config.power_schedule):
        _checked_mode(doc, ("power_schedule", index, "mode"), profile, switch.mode)
    return LoadedPipelineSet(Path(path), config, recipes, profile, mode, doc, variants)


def _variants(doc: YamlDocument, index: int, pipeline: PipelineConfig,
              primary: str | None) -> list[EngineRecipe]:
    """The recipes of a pipeline's ``variants``: each found, each named apart (plans and the
    status name a variant by its recipe's name)."""
    found: list[EngineRecipe] = []
    names = {primary}
    for number, ref in enumerate(pipeline.variants):
        key = ("pipelines", index, "variants", number)
        if not ref.recipe.is_file():
            raise doc.error(key, f"engine recipe not found: {ref.recipe} (paths are relative "
                                 "to the pipeline file)")
        recipe = load_recipe(ref.recipe)
        if recipe.name in names:
            raise doc.error(key, f"variant '{recipe.name}' is listed twice for pipeline "
                                 f"'{pipeline.name}' (give each recipe its own name:)")
        names.add(recipe.name)
        found.append(recipe)
    return found


def _checked_mode(doc: YamlDocument, key: tuple[str | int, ...], profile: PowerProfile,
                  ref: str | int | None) -> PowerMode:
    try:
        return profile.resolve(ref)
    except UserError as exc:
        raise doc.error(key, exc.message) from None
