"""YAML loading that remembers where every key came from.

Why not plain ``yaml.safe_load``: an error must name ``FILE:LINE``, so each mapping key and
sequence item keeps its line; and PyYAML silently keeps the last of two duplicate keys, which
would let a typo'd override vanish, so duplicates are rejected here.

A config is small and shallow, so anything far outside that is refused up front with one line
rather than let PyYAML spend minutes on it or die in a RecursionError: a file over
:data:`MAX_CONFIG_BYTES`, nesting deeper than :data:`MAX_DEPTH`, or aliases that expand to more
than :data:`MAX_VALUES` values (a "billion laughs" file is a few hundred bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_runtime.errors import UserError

KeyPath = tuple[str | int, ...]

#: Largest config file read. The biggest shipped config is a few KiB; a file over 1 MiB is not
#: a config (or is a mistake PyYAML's pure-Python parser would take many seconds to parse).
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of mappings and sequences; the config models are about 6 levels deep.
MAX_DEPTH = 64
#: Most values (keys, items, scalars) a document may expand to, aliases counted each time used.
MAX_VALUES = 100_000


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


#: The tags of an untagged mapping and list (others, such as ``!!python/object/apply`` on a
#: list, would otherwise be dropped silently: the mapping or list is read, the tag ignored).
_PLAIN_COLLECTIONS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class _ShallowLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with a depth limit: its composer recurses once per nesting level,
    so 10000 ``[`` would end in a RecursionError (a bug's traceback) instead of one line."""

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self.path = path
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise UserError(f"nested more than {MAX_DEPTH} levels deep (a config is a few "
                                "levels deep; check the brackets)", file=self.path,
                                line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


@dataclass
class _Recorder:
    """Converts a composed node to plain data, recording each path's line on the way, and
    counting values: an alias is expanded where it is used, so aliases of aliases grow
    exponentially, and an anchor used inside itself never ends (both are refused)."""

    doc: Path
    lines: dict[KeyPath, int] = field(default_factory=dict)
    values: int = 0

    def error(self, node: yaml.Node, message: str, path: KeyPath) -> UserError:
        return UserError(message, file=self.doc, line=node.start_mark.line + 1,
                         key=format_key_path(path) or None)

    def record(self, node: yaml.Node, path: KeyPath) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:  # named by the top-level key: the full path is endless
            raise self.error(node, f"the document expands to more than {MAX_VALUES} values "
                                   "(aliases '*name' repeated inside each other?); write the "
                                   "values out", path[:1])
        if len(path) > MAX_DEPTH:
            raise self.error(node, f"nested more than {MAX_DEPTH} levels deep (an alias used "
                                   "inside its own anchor?)", path[:1])
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise self.error(node, _unsupported_tag(node), path)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                item_path: KeyPath = (*path, index)
                self.lines[item_path] = item.start_mark.line + 1
                items.append(self.record(item, item_path))
            return items
        return self.scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.error(key_node, "YAML merge keys ('<<') are not supported (write "
                                           "the keys out)", path)
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise self.error(key_node, f"a key must be a name, not a {kind} (is a ':' "
                                           "or '?' misplaced?)", path)
            key = self.scalar(key_node, path)
            child: KeyPath = (*path, key)
            if key in result:
                raise self.error(key_node, f"duplicate key '{key}' (it also appears above; "
                                           "keep one)", child)
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.record(value_node, child)
        return result

    def scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        """Resolve a scalar node with PyYAML's safe rules (ints, floats, bools, nulls, strings).
        An explicit tag the value does not fit (``!!int forty``, ``!!timestamp soon``, a
        ``!!python/...`` tag the safe rules refuse) is the user's mistake, whatever exception
        PyYAML's constructor happens to raise for it."""
        try:
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            if "could not determine a constructor" in str(exc.problem):
                raise self.error(node, _unsupported_tag(node), path) from None
            raise self.error(node, f"cannot read the value tagged '{_short_tag(node)}' "
                                   f"({exc.problem}); remove the tag or fix the value",
                             path) from None
        except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError) as exc:
            reason: list[str] = []
            if isinstance(exc, ValueError):  # the others say nothing a user could act on
                reason = str(exc).strip().splitlines()
            shown = f" ({reason[0]})" if reason else ""
            raise self.error(node, f"cannot read the value tagged '{_short_tag(node)}'{shown}; "
                                   "remove the tag or fix the value", path) from None


def _short_tag(node: yaml.Node) -> str:
    """``tag:yaml.org,2002:int`` as the user wrote it, ``!!int``."""
    return str(node.tag).replace("tag:yaml.org,2002:", "!!")


def _unsupported_tag(node: yaml.Node) -> str:
    return (f"the tag '{_short_tag(node)}' is not supported (a config is plain mappings, lists "
            "and values; remove the tag)")


def _compose(text: str, path: Path) -> yaml.Node | None:
    """``yaml.compose`` with the depth limit (the reader checks the characters on creation)."""
    loader = _ShallowLoader(text, path)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> YamlDocument:
    """Read one YAML file; any problem becomes a one-line :class:`UserError`."""
    doc_path = Path(path)
    try:
        with doc_path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)  # never the whole of /dev/zero
    except FileNotFoundError:
        raise UserError("file not found (check the path)", file=doc_path) from None
    except OSError as exc:
        raise UserError(f"cannot read file: {exc.strerror}", file=doc_path) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UserError(f"file too large for a config (over {MAX_CONFIG_BYTES >> 20} MiB): is "
                        "this the YAML file you meant?", file=doc_path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start}): is this the YAML file you meant?",
                        file=doc_path) from None
    try:
        node = _compose(text, doc_path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise UserError(f"YAML syntax error: {problem}", file=doc_path, line=line) from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise UserError(f"not readable as YAML: {exc}".splitlines()[0], file=doc_path) from None
    recorder = _Recorder(doc_path)
    data = {} if node is None else recorder.record(node, ())
    return YamlDocument(path=doc_path, data=data, lines=recorder.lines)
