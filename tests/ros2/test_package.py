"""The ament package in ros2_nodes/: package.xml is valid format 3 (catkin_pkg, the parser
colcon and bloom use, validating REP 149) with the dependencies the code imports; setup.py
installs what launch needs; the launch files use the node's real names and arguments."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

from tests.ros2.graph import REPO

PACKAGE = REPO / "ros2_nodes"
LAUNCH = PACKAGE / "launch"


def test_package_xml_is_valid_format_3_with_the_imported_dependencies() -> None:
    package = parse_package(str(PACKAGE / "package.xml"))
    package.validate()  # raises InvalidPackage with the reasons
    assert package.package_format == 3 and package.name == "edge_runtime_ros"
    assert package.get_build_type() == "ament_python"
    depends = {d.name for d in package.exec_depends}
    imported = set()
    for path in [*(REPO / "edge_runtime" / "ros2").glob("*.py"),
                 REPO / "edge_runtime" / "pipelines" / "messages.py", *LAUNCH.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    ros_packages = {m for m in imported if m.endswith("_msgs") or m.endswith("_srvs")
                    or m in {"rclpy", "launch", "launch_ros", "builtin_interfaces",
                             "rcl_interfaces"}}
    assert ros_packages <= depends, f"not in package.xml: {ros_packages - depends}"


def setup_call() -> ast.Call:
    tree = ast.parse((PACKAGE / "setup.py").read_text())
    return next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "setup")


def test_the_entry_point_exists_and_names_match_package_xml(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PACKAGE))
    text = (PACKAGE / "setup.py").read_text()
    (entry,) = re.findall(r'"runtime_node = ([\w.]+):(\w+)"', text)
    module, function = entry
    assert callable(getattr(importlib.import_module(module), function))
    assert 'PACKAGE = "edge_runtime_ros"' in text
    assert (PACKAGE / "resource" / "edge_runtime_ros").is_file()
    assert "share/{PACKAGE}/launch" in text and "share/{PACKAGE}/config" in text
    assert list(LAUNCH.glob("*.launch.py")) and list((PACKAGE / "config").glob("*.yaml"))
    assert setup_call().func is not None
    assert "script_dir=$base/lib/edge_runtime_ros" in (PACKAGE / "setup.cfg").read_text()


def calls(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def keyword(call: ast.Call, name: str) -> ast.expr:
    return next(k.value for k in call.keywords if k.arg == name)


def test_every_launch_argument_is_declared_and_used() -> None:
    for path in LAUNCH.glob("*.launch.py"):
        declared = {ast.literal_eval(c.args[0]) for c in calls(path, "DeclareLaunchArgument")}
        used = {ast.literal_eval(c.args[0]) for c in calls(path, "LaunchConfiguration")}
        assert used <= declared, f"{path.name}: undeclared {used - declared}"
        assert declared <= used, f"{path.name}: unused {declared - used}"
    main = LAUNCH / "edge_runtime.launch.py"
    assert {ast.literal_eval(c.args[0]) for c in calls(main, "DeclareLaunchArgument")} == {
        "config", "power_mode", "namespace", "log_level"}


def test_the_lifecycle_node_is_the_package_s_executable_and_goes_to_active() -> None:
    path = LAUNCH / "edge_runtime.launch.py"
    (node,) = calls(path, "LifecycleNode")
    assert ast.literal_eval(keyword(node, "package")) == "edge_runtime_ros"
    assert ast.literal_eval(keyword(node, "executable")) == "runtime_node"
    assert ast.literal_eval(keyword(node, "name")) == "edge_runtime"
    parameters = ast.unparse(keyword(node, "parameters"))
    assert "'config'" in parameters and "'power_mode'" in parameters
    transitions = {ast.unparse(keyword(c, "transition_id")) for c in calls(path, "ChangeState")}
    assert transitions == {"Transition.TRANSITION_CONFIGURE", "Transition.TRANSITION_ACTIVATE"}
    (handler,) = calls(path, "OnStateTransition")
    assert ast.literal_eval(keyword(handler, "goal_state")) == "inactive"


def test_the_camera_example_remaps_into_the_detector_input() -> None:
    path = LAUNCH / "robot_camera.launch.py"
    (remap,) = calls(path, "SetRemap")
    assert ast.literal_eval(keyword(remap, "src")) == "front_detector/image_raw"
    included = ast.unparse(calls(path, "PathJoinSubstitution")[0])
    assert "edge_runtime.launch.py" in included
