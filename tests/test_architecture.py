"""The layering of docs/architecture.md, enforced: lower layers never import upper ones, and
importing any module (or asking any subcommand for --help) pulls in no hardware library."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import edge_runtime

PACKAGE = Path(edge_runtime.__file__).parent

#: Rank of each top-level part of the package; a part may import only lower ranks (and itself).
LAYERS: dict[str, int] = {
    "errors": 0, "imaging": 0, "fileio": 0, "jetpack": 0,
    "synthetic": 1, "graph": 1, "scheduler": 1,
    "config": 2,
    "pipelines": 3, "power": 3,
    "sim": 4, "optimize": 4,
    "engines": 5, "triton": 5,
    "runtime": 6, "doctor": 6,
    "ros2": 7, "service": 7,
    "cli": 8,
    "__main__": 9,
}
HARDWARE = ("tensorrt", "pycuda", "cuda", "rclpy", "torch")
#: Modules that import rclpy at the top (a LifecycleNode subclass needs it when the class is
#: defined). Nothing in the package imports them at import time (checked below); they are
#: imported, and their imports checked, by tests/ros2 in the ROS 2 venv.
ROS_SHELL = ("edge_runtime.ros2.node",)


def part_of(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "edge_runtime" and len(pieces) > 1 else None


def imports_of(path: Path) -> set[str]:
    return imports_of_tree(ast.parse(path.read_text(encoding="utf-8")))


def imports_of_tree(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        found.append((name, path))
    return found


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(name) for name, _ in modules()} - {None}
    assert parts <= set(LAYERS), f"add {parts - set(LAYERS)} to LAYERS and the architecture doc"


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_lower_layers_never_import_upper_ones(name: str, path: Path) -> None:
    mine = part_of(name)
    if mine is None:
        return
    for imported in imports_of(path):
        theirs = part_of(imported)
        if theirs is None or theirs == mine or theirs not in LAYERS:
            continue
        assert LAYERS[theirs] < LAYERS[mine], (
            f"{name} (layer {LAYERS[mine]}) imports {imported} (layer {LAYERS[theirs]})")


def test_no_module_imports_hardware_libraries_at_import_time() -> None:
    # Compared with what the interpreter had before: site hooks may import a library at
    # start-up (cuda-bindings installs a .pth that imports `cuda`); that is not our import.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import importlib, pkgutil, edge_runtime\n"
        "for m in pkgutil.walk_packages(edge_runtime.__path__, 'edge_runtime.'):\n"
        f"    if m.name not in ('edge_runtime.__main__', *{ROS_SHELL!r}):\n"
        "        importlib.import_module(m.name)\n"
        "new = set(sys.modules) - before\n"
        f"loaded = sorted(k for k in new if k.split('.')[0] in {HARDWARE!r})\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == ""


def test_every_module_imports() -> None:
    for info in pkgutil.walk_packages(edge_runtime.__path__, "edge_runtime."):
        if info.name != "edge_runtime.__main__" and info.name not in ROS_SHELL:
            importlib.import_module(info.name)


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_only_function_bodies_import_the_ros_shell(name: str, path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = ast.Module(
        body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
        type_ignores=[])
    imported = imports_of_tree(top_level)
    assert not imported & set(ROS_SHELL), f"{name} imports the ROS 2 node at import time"
