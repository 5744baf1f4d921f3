"""``ros2 run edge_runtime_ros runtime_node``: the edge_runtime lifecycle node.

The node lives in the pip-installed ``edge_runtime`` package (``edge_runtime.ros2.node``), so
``edge-runtime ros2`` and this entry point start the same code.
"""

from __future__ import annotations

import sys

#: Modules whose absence means edge-runtime itself is missing (or too old to have the node).
RUNTIME_MODULES = frozenset({"edge_runtime", "edge_runtime.ros2", "edge_runtime.ros2.node"})


def main() -> int:
    try:
        from edge_runtime.ros2.node import main as node_main
    except ModuleNotFoundError as error:
        if error.name not in RUNTIME_MODULES:
            raise
        sys.stderr.write(
            f"runtime_node: {error.name} is not importable by {sys.executable}: install the "
            "runtime with pip (pip install edge-runtime; see docs/ros2.md); it is a pip "
            "package, not a rosdep key\n")
        return 1
    # The whole argv, program name first, as rclpy.init expects it (the CLI does the same).
    return node_main(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
