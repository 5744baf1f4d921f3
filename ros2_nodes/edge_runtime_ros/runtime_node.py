"""``ros2 run edge_runtime_ros runtime_node``: the edge_runtime lifecycle node.

The node lives in the pip-installed ``edge_runtime`` package (``edge_runtime.ros2.node``), so
``edge-runtime ros2`` and this entry point start the same code.
"""

from __future__ import annotations

import sys


def main() -> None:
    from edge_runtime.ros2.node import main as node_main

    sys.exit(node_main(sys.argv))


if __name__ == "__main__":
    main()
