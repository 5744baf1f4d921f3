"""The config reference (docs/config.md), generated from the models' field docs.

Generated so it cannot drift: a test regenerates it and compares with the file in docs/.
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from edge_runtime.config.base import ConfigModel
from edge_runtime.config.pipeline import PipelineSet
from edge_runtime.config.power import PowerProfile
from edge_runtime.config.recipe import EngineRecipe

DOCUMENTS: tuple[tuple[str, str, type[ConfigModel]], ...] = (
    ("Engine recipe", "engines/*.yaml", EngineRecipe),
    ("Pipeline set", "pipelines/*.yaml", PipelineSet),
    ("Power profile", "power/*.yaml", PowerProfile),
)


def _type_name(annotation: Any) -> str:  # noqa: PLR0911 - one return per kind of type
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    if annotation is type(None):
        return "null"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, BaseModel):
        return "(see below)"
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return f"`{' '.join(text.split())}`"


def _nested(annotation: Any) -> list[type[ConfigModel]]:
    found: list[type[ConfigModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, ConfigModel):
        return [annotation]
    for arg in typing.get_args(annotation):
        for model in _nested(arg):
            if model not in found:
                found.append(model)
    return found


def _section(model: type[ConfigModel], title: str, seen: set[type[ConfigModel]]) -> list[str]:
    seen.add(model)
    doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    lines = [f"### {title}", "", doc, "", "| key | type | default | meaning |",
             "|---|---|---|---|"]
    children: list[tuple[str, type[ConfigModel]]] = []
    for name, field in model.model_fields.items():
        description = " ".join((field.description or "").split())
        if not description and name == "type":
            description = "Selects this kind (the tag of the union)."
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | "
                     f"{description} |")
        for child in _nested(field.annotation):
            if child not in seen:
                children.append((f"{title}.{name}" if len(_nested(field.annotation)) == 1
                                  else f"{title}.{name} ({child.__name__})", child))
                seen.add(child)
    lines.append("")
    for child_title, child in children:
        lines += _section(child, child_title, seen)
    return lines


def config_reference() -> str:
    """docs/config.md, in full."""
    lines = [
        "# Config reference",
        "",
        "Generated from the pydantic models in `edge_runtime/config/` by "
        "`python tools/gen_config_docs.py`; a test fails when it is out of date.",
        "",
        "Every file is strict: an unknown key is an error (`FILE:LINE: key: unknown key 'x' "
        "(did you mean 'y'?)`, exit status 2), as is a duplicate key. Paths are relative to "
        "the file that contains them.",
        "",
    ]
    for title, where, model in DOCUMENTS:
        lines += [f"## {title} (`{where}`)", ""]
        lines += _section(model, model.__name__, set())
    return "\n".join(lines).rstrip() + "\n"
