"""YAML loading that remembers where every key came from.

Why not plain ``yaml.safe_load``: an error must name ``FILE:LINE``, so each mapping key and
sequence item keeps its line; and PyYAML silently keeps the last of two duplicate keys, which
would let a typo'd override vanish, so duplicates are rejected here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_runtime.errors import UserError

KeyPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Parsed YAML data plus the line (1-based) of every key path in it."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: Sequence[str | int]) -> int:
        """The line of the deepest existing prefix of ``key_path`` (a missing key points at its
        parent mapping, which is where the user has to add it)."""
        path = tuple(key_path)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, key_path: Sequence[str | int], message: str) -> UserError:
        return UserError(
            message, file=self.path, line=self.line_of(key_path), key=format_key_path(key_path)
        )


def format_key_path(key_path: Sequence[str | int]) -> str:
    """``('pipelines', 0, 'source', 'fps')`` -> ``pipelines[0].source.fps``."""
    text = ""
    for part in key_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _record(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], doc: Path) -> Any:
    """Convert a composed node to plain data, recording each path's line on the way."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            child: KeyPath = (*path, key)
            if key in result:
                raise UserError(
                    f"duplicate key '{key}' (it also appears above; keep one)",
                    file=doc, line=key_node.start_mark.line + 1,
                    key=format_key_path(child),
                )
            lines[child] = key_node.start_mark.line + 1
            result[key] = _record(value_node, child, lines, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            item_path: KeyPath = (*path, index)
            lines[item_path] = item.start_mark.line + 1
            items.append(_record(item, item_path, lines, doc))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """Resolve a scalar node with PyYAML's safe rules (ints, floats, bools, nulls, strings)."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def load_yaml(path: str | Path) -> YamlDocument:
    """Read one YAML file; any problem becomes a one-line :class:`UserError`."""
    doc_path = Path(path)
    try:
        text = doc_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found (check the path)", file=doc_path) from None
    except OSError as exc:
        raise UserError(f"cannot read file: {exc.strerror}", file=doc_path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start}): is this the YAML file you meant?",
                        file=doc_path) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise UserError(f"YAML syntax error: {problem}", file=doc_path, line=line) from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise UserError(f"not readable as YAML: {exc}".splitlines()[0], file=doc_path) from None
    lines: dict[KeyPath, int] = {}
    data = {} if node is None else _record(node, (), lines, doc_path)
    return YamlDocument(path=doc_path, data=data, lines=lines)
