"""The ament wrapper of edge-runtime's ROS 2 node (the node is ``edge_runtime.ros2.node``)."""
