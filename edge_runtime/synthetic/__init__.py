"""The synthetic world: deterministic scenes and operator commands with ground truth
(training, sources, scoring)."""

from edge_runtime.synthetic.commands import (
    INTENTS,
    SLOT_KINDS,
    SLOT_TAGS,
    Command,
    CommandGenerator,
)
from edge_runtime.synthetic.scenes import (
    DEFAULT_NOISE,
    SHAPE_CLASSES,
    Scene,
    SceneGenerator,
    SceneKind,
    SceneObject,
)

__all__ = ["DEFAULT_NOISE", "INTENTS", "SHAPE_CLASSES", "SLOT_KINDS", "SLOT_TAGS", "Command",
           "CommandGenerator", "Scene", "SceneGenerator", "SceneKind", "SceneObject"]
