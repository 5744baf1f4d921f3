"""The ROS-free half of the node: topic names, parameter values, reload answers, diagnostics
with the real diagnostic_msgs classes, and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Header

from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.ros2 import translate
from edge_runtime.runtime.health import HealthReport, Level
from edge_runtime.runtime.runtime import ReloadReport
from tests.ros2.graph import REPO


def test_topics_of_the_shipped_ros2_set() -> None:
    loaded = load_pipeline_set(REPO / "pipelines" / "ros2_demo.yaml")
    front, classifier, commands = loaded.config.pipelines
    assert translate.output_topic(front) == "front_detector/detections"
    assert translate.output_topic(classifier) == "part_classifier/classification"
    assert translate.output_topic(commands) == "commands/command"
    assert translate.takes_images(front) and not translate.takes_images(classifier)
    assert translate.takes_texts(commands) and not translate.takes_images(commands)
    assert not translate.takes_texts(front)


@pytest.mark.parametrize(("value", "rate"), [(0, None), (0.0, None), (12, 12.0), (7.5, 7.5)])
def test_rate_parameter_values(value: float, rate: float | None) -> None:
    assert translate.rate_from_parameter(value) == rate


@pytest.mark.parametrize("value", [-1, "fast", True])
def test_bad_rate_parameter_values_say_why(value: object) -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        translate.rate_from_parameter(value)


def test_reload_answers() -> None:
    assert translate.reload_message(ReloadReport(unchanged=["a"])) == "reloaded: nothing changed"
    assert translate.reload_message(ReloadReport(added=["b"], changed=["a", "c"])) == (
        "reloaded: added b; changed a, c")


def test_a_report_becomes_a_real_diagnostic_status() -> None:
    report = HealthReport("front", Level.WARN, "2 deadline misses", {"hz": "29.50"})
    array = translate.diagnostic_array(translate.DiagnosticTypes.ros(), [report],
                                       "edge_runtime", "jetson-agx-orin-32gb", Header())
    (status,) = array.status
    assert status.level == DiagnosticStatus.WARN
    assert status.name == "edge_runtime: front"
    assert status.hardware_id == "jetson-agx-orin-32gb"
    assert [(kv.key, kv.value) for kv in status.values] == [("hz", "29.50")]


def test_the_command_line_puts_the_users_ros_args_last() -> None:
    args = translate.ros_arguments(Path("/x/set.yaml"), autostart=True,
                                   extra=["--ros-args", "-p", "power_mode:=15W"])
    assert args == ["--ros-args", "-p", "config:=/x/set.yaml", "-p", "autostart:=true",
                    "-p", "power_mode:=15W"]
