"""Example: a robot's USB camera feeding the runtime's detector.

    ros2 launch edge_runtime_ros robot_camera.launch.py config:=/path/set.yaml

A v4l2_camera driver (apt: ros-$ROS_DISTRO-v4l2-camera) publishes /robot/camera/image_raw; the
runtime (edge_runtime.launch.py, in the same namespace) listens on front_detector/image_raw,
remapped here to the camera's topic. Results appear on /robot/front_detector/detections. Any
driver publishing sensor_msgs/Image in rgb8, bgr8 or mono8 works the same way. The remap is
scoped to the group around the included launch file, so it reaches the runtime only.

Written against the launch / launch_ros API of Humble and Jazzy (see
tests/ros2_nodes/launch_api.py).
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, SetRemap
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    namespace = LaunchConfiguration("namespace")
    camera = Node(
        package="v4l2_camera",
        executable="v4l2_camera_node",
        name="camera",
        namespace=namespace,
        parameters=[{"video_device": LaunchConfiguration("video_device"),
                     "image_size": [640, 480], "output_encoding": "rgb8"}],
        remappings=[("image_raw", "camera/image_raw")],
        output="screen",
    )
    runtime = GroupAction([
        SetRemap(src="front_detector/image_raw", dst="camera/image_raw"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [FindPackageShare("edge_runtime_ros"), "launch", "edge_runtime.launch.py"])),
            launch_arguments={"config": LaunchConfiguration("config"),
                              "namespace": namespace}.items(),
        ),
    ])
    return LaunchDescription([
        DeclareLaunchArgument("config", description="pipeline set YAML whose front_detector "
                                                    "has source {type: ros2}"),
        DeclareLaunchArgument("namespace", default_value="robot",
                              description="namespace of the camera and the runtime"),
        DeclareLaunchArgument("video_device", default_value="/dev/video0",
                              description="V4L2 device of the camera"),
        camera,
        runtime,
    ])
