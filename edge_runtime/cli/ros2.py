"""``edge-runtime ros2 PIPELINES [--ros-args ...]``: the pipeline set as a ROS 2 node.

Starts the managed node of :mod:`edge_runtime.ros2.node` (needs rclpy: a ROS 2 install, or the
``ros-*`` wheels) and, unless ``--no-autostart``, configures and activates it. The pipeline set
is checked first, so a mistake in it is one line and exit 2, as for ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.errors import UserError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "ros2", help="run a pipeline set as a ROS 2 lifecycle node",
        description="Run every pipeline of a pipeline set in one ROS 2 lifecycle node "
                    "(default name edge_runtime): images in on P/image_raw, results out on "
                    "P/detections, P/classification or P/mask, health on /diagnostics. "
                    "Arguments after --ros-args go to ROS (remaps, -p name:=value, "
                    "--params-file).")
    parser.add_argument("pipelines", type=Path, help="pipeline set YAML (pipelines/*.yaml)")
    parser.add_argument("--no-autostart", action="store_true",
                        help="stay unconfigured and wait for a lifecycle manager")
    parser.add_argument("ros_args", nargs=argparse.REMAINDER,
                        help="--ros-args ... (passed to ROS unchanged)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.ros_args and args.ros_args[0] != "--ros-args":
        raise UserError(f"unexpected argument {args.ros_args[0]!r}; ROS arguments go after "
                        "--ros-args")
    load_pipeline_set(args.pipelines)
    try:
        from edge_runtime.ros2 import node
    except ImportError as exc:
        raise UserError(f"ROS 2 is not importable here ({exc}); source a ROS 2 install "
                        "(Humble or newer) or run `make ros2-env` and use .venv-ros/bin/"
                        "edge-runtime") from None
    from edge_runtime.ros2.translate import ros_arguments

    return node.main(["edge-runtime", *ros_arguments(
        args.pipelines.resolve(), autostart=not args.no_autostart, extra=args.ros_args)])
