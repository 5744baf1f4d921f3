"""Launch the edge_runtime lifecycle node and take it to active.

    ros2 launch edge_runtime_ros edge_runtime.launch.py config:=/path/set.yaml power_mode:=30W

Arguments: config (default: the ROS 2 demo set shipped in the edge_runtime package),
power_mode ('' = the set's), namespace, log_level. The node is configured when it starts and
activated when it reaches inactive, through lifecycle events (as in launch_ros's
examples/lifecycle_pub_sub_launch.py), so a failed configure leaves it unconfigured with the
reason in the log. ``autostart`` is false here: launch drives the transitions.

Written against the launch / launch_ros API of Humble and Jazzy (the names are listed, with
the modules they come from, in tests/ros2_nodes/launch_api.py).
"""

from __future__ import annotations

from importlib.resources import files

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

DEMO_SET = str(files("edge_runtime") / "assets" / "pipelines" / "ros2_demo.yaml")


def generate_launch_description() -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument("config", default_value=DEMO_SET,
                              description="pipeline set YAML"),
        DeclareLaunchArgument("power_mode", default_value="",
                              description="initial power mode: 15W, 30W, ... or an nvpmodel id "
                                          "(empty: the set's)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its topics"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="debug, info, warn, error"),
    ]
    node = LifecycleNode(
        package="edge_runtime_ros",
        executable="runtime_node",
        name="edge_runtime",
        namespace=LaunchConfiguration("namespace"),
        # value_type=str: launch reads a bare argument as YAML, so power_mode:=2 (an nvpmodel
        # id) would arrive as an integer and the node's string parameter would refuse it.
        parameters=[{
            "config": ParameterValue(LaunchConfiguration("config"), value_type=str),
            "power_mode": ParameterValue(LaunchConfiguration("power_mode"), value_type=str),
            "autostart": False,
        }],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
    )
    activate_when_inactive = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_ACTIVATE))]))
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(node),
        transition_id=Transition.TRANSITION_CONFIGURE))
    # The handler is registered before the node starts and the configure request is emitted
    # after it, in the order of launch_ros's lifecycle example.
    return LaunchDescription([*arguments, activate_when_inactive, node, configure])
