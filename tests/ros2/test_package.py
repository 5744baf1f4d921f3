"""package.xml as colcon and bloom read it: catkin_pkg (installed in the ROS 2 venv to build
vision_msgs) parses and validates it by REP 149. The schema, dependency, setup.py and launch
checks that need no ROS are in tests/ros2_nodes/."""

from __future__ import annotations

from catkin_pkg.package import parse_package

from tests.ros2.graph import REPO


def test_catkin_pkg_reads_a_valid_ament_python_package() -> None:
    package = parse_package(str(REPO / "ros2_nodes" / "package.xml"))
    package.validate()  # raises InvalidPackage with the reasons
    assert package.package_format == 3 and package.name == "edge_runtime_ros"
    assert package.get_build_type() == "ament_python"
    assert {"rclpy", "vision_msgs", "sensor_msgs", "diagnostic_msgs", "std_srvs",
            "lifecycle_msgs"} <= {d.name for d in package.exec_depends}
