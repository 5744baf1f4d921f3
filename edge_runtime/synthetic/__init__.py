"""The synthetic world: deterministic scenes with ground truth (training, sources, scoring)."""

from edge_runtime.synthetic.scenes import (
    DEFAULT_NOISE,
    SHAPE_CLASSES,
    Scene,
    SceneGenerator,
    SceneKind,
    SceneObject,
)

__all__ = ["DEFAULT_NOISE", "SHAPE_CLASSES", "Scene", "SceneGenerator", "SceneKind", "SceneObject"]
