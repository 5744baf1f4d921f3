"""Turn pydantic's validation errors into the one-line ``FILE:LINE: key: fix`` users get.

Only the first error is reported: one clear line beats a page of consequences of it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from edge_runtime.config.yaml_source import KeyPath, YamlDocument, load_yaml
from edge_runtime.errors import UserError

ModelT = TypeVar("ModelT", bound=BaseModel)


def _data_path(data: Any, loc: Sequence[str | int]) -> KeyPath:
    """Follow pydantic's ``loc`` through the YAML data, skipping the tags pydantic inserts for
    unions (``source.synthetic_camera.fps`` is ``source.fps`` in the file)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not part.startswith(
            ("function-", "tagged-union", "union")
        ) and _is_last_or_missing(loc, part):
            path.append(part)  # a missing key: point at it by name
            break
    return tuple(path)


def _is_last_or_missing(loc: Sequence[str | int], part: str | int) -> bool:
    return loc[-1] == part


def _allowed_keys(model: type[BaseModel], data: Any, loc: Sequence[str | int]) -> list[str]:
    """Field names of the model that ``loc[:-1]`` refers to, for 'did you mean' hints."""
    target: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or target is None:
            continue
        fields = getattr(target, "model_fields", None)
        if fields is None:
            target = _union_member(target, part)
            continue
        info = fields.get(part)
        target = _model_in(info.annotation) if info is not None else _union_member(target, part)
    fields = getattr(target, "model_fields", None)
    return sorted(fields) if fields else []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside ``X``, ``list[X]``, ``X | None`` or an annotated union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    for meta in getattr(annotation, "__metadata__", ()) or ():
        del meta
    origin = getattr(annotation, "__origin__", None)
    return _model_in(origin) if origin is not None and origin is not annotation else None


def _union_member(target: Any, tag: str | int) -> Any:
    """The union member whose ``type`` literal equals ``tag`` (for discriminated unions)."""
    for arg in getattr(target, "__args__", ()) or ():
        model = _model_in(arg)
        if model is None:
            continue
        field = model.model_fields.get("type")
        if field is not None and tag in getattr(field.annotation, "__args__", ()):
            return model
    return None


def describe(error: ErrorDetails, model: type[BaseModel], data: Any) -> str:
    """A message that says what is wrong and, where we can tell, the fix."""
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, data, loc)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else (
            f"allowed keys: {', '.join(allowed)}" if allowed else "remove it")
        return f"unknown key '{key}' ({hint})"
    if kind == "missing":
        return f"missing required key '{loc[-1]}' (add it)"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return message
    return f"{message} (got {shown})"


def validate_document(doc: YamlDocument, model: type[ModelT]) -> ModelT:
    """Validate a parsed YAML document against ``model`` or raise the first error as a UserError."""
    if not isinstance(doc.data, dict):
        raise UserError("expected a mapping of keys at the top level", file=doc.path, line=1)
    try:
        return model.model_validate(doc.data, context={"source": doc})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = _data_path(doc.data, first["loc"])
        raise doc.error(path, describe(first, model, doc.data)) from None


def load_config(path: str, model: type[ModelT]) -> tuple[ModelT, YamlDocument]:
    """Load and validate one config file; returns the model and its document (for line lookups)."""
    doc = load_yaml(path)
    return validate_document(doc, model), doc
