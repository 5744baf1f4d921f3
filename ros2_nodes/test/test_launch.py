"""``colcon test --packages-select edge_runtime_ros`` on a robot: the launch files load with the
installed launch / launch_ros and declare the arguments the README names. (The repository's
own checks, without ROS, are in tests/ros2_nodes/.)"""

from __future__ import annotations

from pathlib import Path

import pytest

launch = pytest.importorskip("launch")
sources = pytest.importorskip("launch.launch_description_sources")

LAUNCH = Path(__file__).resolve().parents[1] / "launch"


@pytest.mark.parametrize(("name", "arguments"), [
    ("edge_runtime.launch.py", {"config", "power_mode", "namespace", "log_level"}),
    ("robot_camera.launch.py", {"config", "namespace", "video_device"}),
])
def test_the_launch_file_loads_and_declares_its_arguments(name: str, arguments: set[str]) -> None:
    description = sources.get_launch_description_from_python_launch_file(str(LAUNCH / name))
    assert isinstance(description, launch.LaunchDescription)
    assert {a.name for a in description.get_launch_arguments()} >= arguments
