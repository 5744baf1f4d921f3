"""edge-runtime: run several inference pipelines at once on a Jetson module, or on a simulated one.

The package is layered; see docs/architecture.md. Importing it pulls in no hardware library:
TensorRT, CUDA and rclpy are imported lazily by the parts that need them.
"""

__version__ = "0.1.0"
