"""The ROS 2 shell: one managed (lifecycle) rclpy node hosting one :class:`Runtime`.

``node.py`` is the node; it imports rclpy at the top (a ``LifecycleNode`` subclass needs it when
the class is defined), so nothing else in the package imports it: only ``edge-runtime ros2`` and
the ``edge_runtime_ros`` ament package's entry point do, inside their functions.
``translate.py`` holds the ROS-free half (topic names, parameter values, diagnostics, command
lines), parameterised by the message classes, so it is tested without ROS installed.
"""
