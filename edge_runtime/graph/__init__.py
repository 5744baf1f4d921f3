"""ONNX graphs: tensor specs, shape resolution and the per-layer cost profile."""
