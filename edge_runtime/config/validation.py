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


def data_path(data: Any, loc: Sequence[str | int], missing: bool = True) -> KeyPath:
    """Follow pydantic's ``loc`` through the YAML data. Parts that are not keys of the data are
    the tags pydantic adds for unions (``source.synthetic_camera.fps`` is ``source.fps`` in the
    file) and are skipped; a missing key at the end is kept, to be named in the message, when
    ``missing`` says the error is about a missing key (for other errors a last part that is not
    in the data is a union's tag, such as ``tagged-union[...]``, and is no key of the file)."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        in_mapping = isinstance(node, dict) and part in node
        in_sequence = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_sequence:
            node = node[part]
            path.append(part)
        elif missing and index == len(loc) - 1 and isinstance(node, dict):
            path.append(part)
    return tuple(path)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes inside ``X``, ``list[X]``, ``X | None``, ``Annotated[A | B, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += [m for m in _models_in(arg) if m not in found]
    return found


def _model_in(annotation: Any) -> type[BaseModel] | None:
    models = _models_in(annotation)
    return models[0] if models else None


def _tagged_member(annotation: Any, tag: str) -> type[BaseModel] | None:
    """The member of a discriminated union whose ``type`` literal is ``tag``."""
    for model in _models_in(annotation):
        type_field = model.model_fields.get("type")
        if type_field is not None and tag in getattr(type_field.annotation, "__args__", ()):
            return model
    return None


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names of the model that holds the key at ``loc`` (for 'did you mean')."""
    current: type[BaseModel] | None = model
    pending_union: Any = None
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if pending_union is not None:
            member = _tagged_member(pending_union, part)
            if member is None and part.startswith("tagged-union["):
                continue  # pydantic's label of an inner tagged union; its tag comes next
            current, pending_union = member, None
            if current is not None:
                continue
        if current is None or part not in current.model_fields:
            return []
        annotation = current.model_fields[part].annotation
        models = _models_in(annotation)
        if len(models) > 1:
            pending_union, current = annotation, None
        else:
            current = models[0] if models else None
    return sorted(current.model_fields) if current is not None else []


def describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    """A message that says what is wrong and, where we can tell, the fix."""
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        key = _short(str(loc[-1]), 40)
        allowed = allowed_keys(model, loc)
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            hint = f"did you mean '{close[0]}'?"
        else:
            hint = f"allowed keys: {', '.join(allowed)}" if allowed else "remove it"
        return f"unknown key '{key}' ({hint})"
    if kind == "missing":
        if isinstance(loc[-1], int):  # a fixed-length list, e.g. resize: [120]
            return f"missing item {loc[-1]} of the list (it needs more values)"
        return f"missing required key '{loc[-1]}' (add it)"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        context = error.get("ctx") or {}
        tag = str(context.get("tag", ""))
        expected = [t.strip(" '") for t in str(context.get("expected_tags", "")).split(",")]
        close = difflib.get_close_matches(tag, expected, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown type '{tag}' ({hint}expected one of: {', '.join(expected)})"
    if kind == "union_tag_not_found":
        return "missing required key 'type' (add it)"
    value = error.get("input")
    shown = type(value).__name__ if isinstance(value, dict | list) else _short(repr(value))
    return f"{message} (got {shown})"


def _short(text: str, limit: int = 60) -> str:
    """A value quoted from the user's file, cut to fit in the one line."""
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def first_error(errors: Sequence[ErrorDetails]) -> ErrorDetails:
    """The error to report: the first, except that a union of a literal and models
    (``source: pipeline`` or a source mapping) reports, for a mapping given, what is wrong
    inside the mapping rather than that it is not the literal."""
    first = errors[0]
    if first["type"] == "literal_error" and isinstance(first.get("input"), dict | list):
        union = first["loc"][:-1]
        for other in errors[1:]:
            if tuple(other["loc"][:len(union)]) == tuple(union):
                return other
    return first


def validate_document(doc: YamlDocument, model: type[ModelT]) -> ModelT:
    """Validate a parsed YAML document against ``model`` or raise the first error as a UserError."""
    if not isinstance(doc.data, dict):
        raise UserError("expected a mapping of keys at the top level", file=doc.path, line=1)
    try:
        return model.model_validate(doc.data, context={"source": doc})
    except ValidationError as exc:
        first = first_error(exc.errors(include_url=False))
        path = data_path(doc.data, first["loc"], missing=first["type"] == "missing")
        raise doc.error(path, describe(first, model)) from None


def load_config(path: str, model: type[ModelT]) -> tuple[ModelT, YamlDocument]:
    """Load and validate one config file; returns the model and its document (for line lookups)."""
    doc = load_yaml(path)
    return validate_document(doc, model), doc
