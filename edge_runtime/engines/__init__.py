"""Engines: loaders build (recipe + ONNX -> cached artifact), runners run (artifact -> outputs).

Backends: ``mock`` (the simulated Jetson), ``onnxruntime`` (real inference on this host) and
``tensorrt`` (on the device; imported lazily).
"""

from edge_runtime.engines.artifact import Artifact, Manifest
from edge_runtime.engines.base import BaseRunner, BuildEngine, BuildResult, EngineBuilder
from edge_runtime.engines.cache import EngineCache, default_cache_dir
from edge_runtime.engines.registry import (
    EngineContext,
    build_engine,
    make_builder,
    make_runner,
    resolve_backend,
)

__all__ = [
    "Artifact",
    "BaseRunner",
    "BuildEngine",
    "BuildResult",
    "EngineBuilder",
    "EngineCache",
    "EngineContext",
    "Manifest",
    "build_engine",
    "default_cache_dir",
    "make_builder",
    "make_runner",
    "resolve_backend",
]
