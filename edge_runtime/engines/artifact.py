"""An engine artifact: the plan bytes a runner loads, and the manifest that describes them.

The manifest is what makes a cached plan trustworthy: it records what the plan was built from
(ONNX hash, recipe, backend and version, device), what it expects (io specs), what it costs
(the simulator's layer profile) and the plan's own hash, checked on every load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge_runtime.graph.analysis import CostProfile
from edge_runtime.graph.tensors import TensorSpec

MANIFEST_SCHEMA = 1


class Manifest(BaseModel):
    """Everything known about one built engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = MANIFEST_SCHEMA
    key: str
    name: str
    backend: str
    backend_version: str
    device: str
    precision: str
    sparsity: str
    target: str
    lane: str
    onnx_path: str
    onnx_sha256: str
    plan_sha256: str
    plan_bytes: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    labels: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    cost: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)
    layer_precisions: dict[str, str] = Field(default_factory=dict)
    accuracy: dict[str, Any] | None = None
    sparsity_report: dict[str, Any] | None = None
    files: dict[str, str] = Field(default_factory=dict)
    backend_options: dict[str, Any] = Field(default_factory=dict)
    build_seconds: float
    created_utc: str
    versions: dict[str, str] = Field(default_factory=dict)
    recipe: dict[str, Any] = Field(default_factory=dict)

    def cost_profile(self) -> CostProfile | None:
        return CostProfile.from_dict(self.cost) if self.cost is not None else None


@dataclass(frozen=True)
class Artifact:
    """A built engine: plan bytes plus manifest (plan_sha256 matches the bytes), and the files
    the optimisation stages produced with it (Q/DQ model, TensorRT calibration cache, ranges),
    listed with their sha256 in ``manifest.files``."""

    plan: bytes
    manifest: Manifest
    files: dict[str, bytes] = field(default_factory=dict)
