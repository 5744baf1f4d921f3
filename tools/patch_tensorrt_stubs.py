"""Make the ``tensorrt-stubs`` package parse, so mypy can check our TensorRT code against it.

    python tools/patch_tensorrt_stubs.py SOURCE DEST

``SOURCE`` is where the stub files are: a directory that holds ``tensorrt/`` and
``tensorrt_bindings/`` (site-packages, or a ``pip install --no-deps --target DIR`` folder), or the
downloaded ``tensorrt_stubs-*.whl`` itself. ``DEST`` (``make`` uses
``.venv/tensorrt-stubs-patched``, which setup.cfg's ``mypy_path`` names) receives patched copies
of the three ``.pyi`` files; nothing else is written there.

The stubs (tensorrt-stubs 10.13.0.35.1, generated from the TensorRT 10.13 bindings) do not parse
as shipped. This tool fixes exactly these problems, and prints each change:

1. parameters named ``in`` (a keyword) in plugin methods: renamed ``in_``;
2. parameters without a default after defaulted ones (``add_scale_nd(..., power=None,
   channel_axis)``): given the stub default ``= ...``;
3. ``import tensorrt_libs`` (the wheel that carries the shared libraries, which has no stubs):
   dropped, with its entry in ``__all__``.

It is idempotent (a second run changes nothing and says so) and reproducible (the output
depends only on the input files). Anything else in the stubs is left as NVIDIA's bindings
describe it; if a later stub release parses as shipped, the tool reports no changes.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

STUB_FILES = ("tensorrt/__init__.pyi", "tensorrt_bindings/__init__.pyi",
              "tensorrt_bindings/tensorrt.pyi")

_DEF = re.compile(r"^(?P<head>\s*def \w+\()(?P<params>.*)(?P<tail>\)\s*(->.*)?:\s*)$")
_IN_PARAM = re.compile(r"^in(?=\s*[:=]|$)")
_LIBS_IMPORT = re.compile(r"^import tensorrt_libs( as tensorrt_libs)?\s*$")


def split_params(params: str) -> list[str]:
    """Split a parameter list at its top-level commas (not those inside brackets or strings)."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current = ""
    for char in params:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current)
    return parts


def _has_default(param: str) -> bool:
    return "=" in split_annotation(param)[1]


def split_annotation(param: str) -> tuple[str, str]:
    """``"x: int = 3"`` -> ``("x", ": int = 3")``."""
    match = re.match(r"^(\s*\**\w*)(.*)$", param, re.DOTALL)
    assert match is not None
    return match.group(1), match.group(2)


def patch_def(line: str) -> tuple[str, list[str]]:
    """One ``def`` line with keyword parameters renamed and missing defaults added."""
    match = _DEF.match(line.rstrip("\n"))
    if match is None:
        return line, []
    changes: list[str] = []
    params = split_params(match.group("params"))
    seen_default = False
    keyword_only = False
    patched: list[str] = []
    for param in params:
        name, rest = split_annotation(param)
        bare = name.strip()
        if _IN_PARAM.match(bare):
            name = name.replace("in", "in_", 1)
            changes.append("renamed parameter 'in' -> 'in_'")
            bare = "in_"
        if bare.startswith("*") or bare == "/":
            keyword_only = keyword_only or (bare.startswith("*") and not bare.startswith("**"))
            patched.append(name + rest)
            continue
        if _has_default(param):
            seen_default = True
        elif seen_default and not keyword_only:
            rest = rest.rstrip() + " = ..."
            changes.append(f"gave parameter '{bare}' the default '...'")
        patched.append(name + rest)
    if not changes:
        return line, []
    newline = "\n" if line.endswith("\n") else ""
    return match.group("head") + ",".join(patched) + match.group("tail") + newline, changes


def patch_text(text: str) -> tuple[str, list[str]]:
    """The patched stub text and one message per change (``LINE: what``)."""
    out: list[str] = []
    changes: list[str] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if _LIBS_IMPORT.match(line):
            changes.append(f"{number}: dropped 'import tensorrt_libs'")
            continue
        current = line
        if current.startswith("__all__") and "'tensorrt_libs'" in current:
            current = current.replace(", 'tensorrt_libs'", "").replace("'tensorrt_libs', ", "")
            changes.append(f"{number}: dropped 'tensorrt_libs' from __all__")
        patched, what = patch_def(current)
        changes.extend(f"{number}: {patch_def_name(current)}: {w}" for w in what)
        out.append(patched)
    return "".join(out), changes


def patch_def_name(line: str) -> str:
    match = re.match(r"\s*def (\w+)", line)
    return match.group(1) if match else "?"


def read_sources(source: Path) -> Iterator[tuple[str, str]]:
    """``(relative path, text)`` of each stub file, from a directory or a wheel."""
    if source.is_file() and source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            for name in STUB_FILES:
                yield name, _lf(wheel.read(name).decode("utf-8"))
        return
    for name in STUB_FILES:
        path = source / name
        if not path.is_file():
            raise SystemExit(f"{path} not found: is tensorrt-stubs installed in {source}?")
        yield name, _lf(path.read_bytes().decode("utf-8"))


def _lf(text: str) -> str:
    """The stubs ship with CRLF line ends; the copies get LF, whichever way they were read."""
    return text.replace("\r\n", "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path,
                        help="folder holding tensorrt/ and tensorrt_bindings/, or the .whl")
    parser.add_argument("dest", type=Path, help="folder for the patched stubs (mypy_path)")
    args = parser.parse_args(argv)
    total = 0
    for name, text in read_sources(args.source):
        patched, changes = patch_text(text)
        target = args.dest / name
        total += len(changes)
        for change in changes:
            print(f"{name}:{change}")
        if target.is_file() and target.read_bytes() == patched.encode("utf-8"):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(patched.encode("utf-8"))
    print(f"{total} changes; patched stubs in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
