"""What an ONNX model says about itself in its metadata (``metadata_props``)."""

from __future__ import annotations

import json

from onnx import ModelProto


def model_labels(model: ModelProto) -> list[str]:
    """Class names from the ``labels`` metadata: a JSON list, or comma-separated text."""
    raw = {prop.key: prop.value for prop in model.metadata_props}.get("labels")
    if not raw:
        return []
    try:
        labels = json.loads(raw)
    except json.JSONDecodeError:
        return [s.strip() for s in raw.split(",") if s.strip()]
    return [str(label) for label in labels] if isinstance(labels, list) else []
