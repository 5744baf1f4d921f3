"""What an ONNX model says about itself in its metadata (``metadata_props``)."""

from __future__ import annotations

import json

from onnx import ModelProto


def model_labels(model: ModelProto, key: str = "labels") -> list[str]:
    """Class names from the ``labels`` metadata (or ``key``'s: a command model's ``intents``
    and ``slot_tags``): a JSON list, or comma-separated text."""
    return label_list({prop.key: prop.value for prop in model.metadata_props}, key)


def label_list(metadata: dict[str, str], key: str) -> list[str]:
    """A list of names from one metadata entry (see :func:`model_labels`)."""
    raw = metadata.get(key)
    if not raw:
        return []
    try:
        labels = json.loads(raw)
    except json.JSONDecodeError:
        return [s.strip() for s in raw.split(",") if s.strip()]
    return [str(label) for label in labels] if isinstance(labels, list) else []
