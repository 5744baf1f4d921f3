"""edge-runtime: run several inference pipelines at once on a Jetson module, or on a simulated one.

The public face is :class:`Runtime` (``docs/api.md``) and the few types a host needs around it::

    from edge_runtime import Runtime, Output, FrameIn, RuntimeStatus, PipelineStatus

The package is layered; see docs/architecture.md. Importing it pulls in no hardware library:
TensorRT, CUDA and rclpy are imported lazily by the parts that need them, and the public names
are imported on first use, so ``import edge_runtime`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_PUBLIC = {
    "Runtime": "edge_runtime.runtime.runtime",
    "RuntimeOptions": "edge_runtime.runtime.runtime",
    "ReloadReport": "edge_runtime.runtime.runtime",
    "Output": "edge_runtime.pipelines.output",
    "RawTensors": "edge_runtime.pipelines.output",
    "Subscription": "edge_runtime.runtime.outputs",
    "PipelineStatus": "edge_runtime.runtime.status",
    "RuntimeStatus": "edge_runtime.runtime.status",
    "State": "edge_runtime.runtime.lifecycle",
    "LifecycleError": "edge_runtime.runtime.lifecycle",
    "FrameIn": "edge_runtime.pipelines.sources",
    "Classification": "edge_runtime.pipelines.postprocess",
    "Detections": "edge_runtime.pipelines.postprocess",
    "SegmentationMap": "edge_runtime.pipelines.postprocess",
    "Plan": "edge_runtime.scheduler.planner",
    "Grant": "edge_runtime.scheduler.planner",
    "InfeasibleError": "edge_runtime.scheduler.planner",
    "CostKey": "edge_runtime.scheduler.costs",
}

__all__ = [
    "Classification", "CostKey", "Detections", "FrameIn", "Grant", "InfeasibleError",
    "LifecycleError", "Output", "PipelineStatus", "Plan", "RawTensors", "ReloadReport", "Runtime",
    "RuntimeOptions", "RuntimeStatus", "SegmentationMap", "State", "Subscription", "__version__",
]

if TYPE_CHECKING:
    from edge_runtime.pipelines.output import Output, RawTensors
    from edge_runtime.pipelines.postprocess import Classification, Detections, SegmentationMap
    from edge_runtime.pipelines.sources import FrameIn
    from edge_runtime.runtime.lifecycle import LifecycleError, State
    from edge_runtime.runtime.outputs import Subscription
    from edge_runtime.runtime.runtime import ReloadReport, Runtime, RuntimeOptions
    from edge_runtime.runtime.status import PipelineStatus, RuntimeStatus
    from edge_runtime.scheduler.costs import CostKey
    from edge_runtime.scheduler.planner import Grant, InfeasibleError, Plan


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_runtime' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
