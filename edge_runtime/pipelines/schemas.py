"""ROS 2 message schemas (``ros2msg``) for MCAP files, from the ``.msg`` files in ``msg/``.

A ``ros2msg`` schema is the message's own definition followed by each type it uses, once,
after a line of 80 ``=`` and ``MSG: pkg/Type`` (the layout rosbag2 writes and mcap_ros2
parses). Unqualified names resolve within the message's package; ``Header`` is
``std_msgs/Header``.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files

#: Primitive field types of the ROS 2 interface definition language.
PRIMITIVES = frozenset({
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64", "string", "wstring"})
SEPARATOR = "=" * 80
_FIELD = re.compile(r"^\s*([A-Za-z][\w/]*)(?:<=\d+)?(?:\[[^\]]*\])?\s+\w+")


def _short(type_name: str) -> str:
    """``vision_msgs/msg/Detection2D`` and ``vision_msgs/Detection2D`` -> the latter."""
    package, *_, name = type_name.split("/")
    return f"{package}/{name}"


@functools.cache
def definition(type_name: str) -> str:
    """The ``.msg`` text of ``pkg/Type`` (or ``pkg/msg/Type``)."""
    package, name = _short(type_name).split("/")
    path = files("edge_runtime.pipelines") / "msg" / package / f"{name}.msg"
    if not path.is_file():
        raise KeyError(f"no message definition for {type_name} in edge_runtime/pipelines/msg")
    return path.read_text(encoding="utf-8")


def dependencies(type_name: str) -> list[str]:
    """The complex types ``type_name``'s fields use, directly, as ``pkg/Type``."""
    package = _short(type_name).split("/")[0]
    found: list[str] = []
    for line in definition(type_name).splitlines():
        code = line.split("#", 1)[0].strip()
        match = _FIELD.match(code)
        if not code or match is None or _is_constant(code):
            continue
        kind = match.group(1)
        if kind in PRIMITIVES:
            continue
        resolved = "std_msgs/Header" if kind == "Header" else (
            kind if "/" in kind else f"{package}/{kind}")
        if resolved not in found:
            found.append(resolved)
    return found


def _is_constant(code: str) -> bool:
    """``uint8 OK=0``: a constant, not a field."""
    parts = code.split(None, 1)
    return len(parts) == 2 and "=" in parts[1].split()[0]


def schema_text(type_name: str) -> str:
    """The full ``ros2msg`` schema of ``type_name``, dependencies depth-first, once each."""
    seen: list[str] = []

    def visit(name: str) -> None:
        for dependency in dependencies(name):
            if dependency not in seen:
                seen.append(dependency)
                visit(dependency)

    root = _short(type_name)
    visit(root)
    parts = [definition(root).rstrip("\n")]
    parts += [f"{SEPARATOR}\nMSG: {name}\n{definition(name).rstrip(chr(10))}"
              for name in seen if name != root]
    return "\n".join(parts) + "\n"
