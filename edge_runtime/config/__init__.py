"""Config: the three YAML kinds (engine recipes, pipeline sets, power profiles) as pydantic models.

This layer knows nothing of engines, scheduling or the CLI; it only reads, validates and
reports mistakes as one line with FILE:LINE.
"""

from edge_runtime.config.loading import (
    LoadedPipelineSet,
    bundled_profiles,
    load_pipeline_set,
    load_power_profile,
    load_recipe,
)
from edge_runtime.config.pipeline import PipelineConfig, PipelineSet, Priority
from edge_runtime.config.power import HardwareSpec, PowerMode, PowerProfile
from edge_runtime.config.recipe import EngineRecipe, Precision, TargetDevice

__all__ = [
    "EngineRecipe",
    "HardwareSpec",
    "LoadedPipelineSet",
    "PipelineConfig",
    "PipelineSet",
    "PowerMode",
    "PowerProfile",
    "Precision",
    "Priority",
    "TargetDevice",
    "bundled_profiles",
    "load_pipeline_set",
    "load_power_profile",
    "load_recipe",
]
