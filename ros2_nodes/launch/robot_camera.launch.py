"""Example: a robot's USB camera feeding the runtime's detector.

    ros2 launch edge_runtime_ros robot_camera.launch.py config:=/path/set.yaml

A v4l2_camera driver publishes /robot/camera/image_raw; the runtime (edge_runtime.launch.py,
in the same namespace) listens on front_detector/image_raw, remapped here to the camera's
topic. Results appear on /robot/front_detector/detections. Any driver publishing
sensor_msgs/Image in rgb8, bgr8 or mono8 (or a CompressedImage) works the same way.

Written against the launch / launch_ros API of Humble and later; not run in this repository's
tests (no launch wheels exist).
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
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
        parameters=[{"image_size": [640, 480], "output_encoding": "rgb8"}],
        remappings=[("image_raw", "camera/image_raw")],
    )
    runtime = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution(
            [FindPackageShare("edge_runtime_ros"), "launch", "edge_runtime.launch.py"])),
        launch_arguments={"config": LaunchConfiguration("config"),
                          "namespace": namespace}.items(),
    )
    return LaunchDescription([
        DeclareLaunchArgument("config", description="pipeline set YAML whose front_detector "
                                                    "has source {type: ros2}"),
        DeclareLaunchArgument("namespace", default_value="robot"),
        camera,
        SetRemap(src="front_detector/image_raw", dst="camera/image_raw"),
        runtime,
    ])
