"""Launch the edge_runtime lifecycle node and take it to active.

    ros2 launch edge_runtime_ros edge_runtime.launch.py config:=/path/set.yaml power_mode:=30W

Arguments: config (default: the ROS 2 demo set shipped in the edge_runtime package),
power_mode ('' = the set's), namespace, log_level. The node is configured when it starts and
activated when it reaches inactive, through lifecycle events (as in launch_ros's lifecycle
examples), so a failed configure leaves it unconfigured with the reason in the log.

Written against the launch / launch_ros API of Humble and later; it has not run in this
repository's tests (no launch wheels exist), which start the node with the same arguments.
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
from lifecycle_msgs.msg import Transition

DEMO_SET = str(files("edge_runtime") / "assets" / "pipelines" / "ros2_demo.yaml")


def generate_launch_description() -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument("config", default_value=DEMO_SET,
                              description="pipeline set YAML"),
        DeclareLaunchArgument("power_mode", default_value="",
                              description="initial power mode (empty: the set's)"),
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
        parameters=[{"config": LaunchConfiguration("config"),
                     "power_mode": LaunchConfiguration("power_mode")}],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
    )
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(node),
        transition_id=Transition.TRANSITION_CONFIGURE))
    activate_when_inactive = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_ACTIVATE))]))
    return LaunchDescription([*arguments, node, activate_when_inactive, configure])
