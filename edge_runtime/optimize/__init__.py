"""Optimisation stages between the user's ONNX and the engine: 2:4 pruning, INT8 calibration,
Q/DQ, and the accuracy gate that proves the result is still accurate.

Loaders compose (Polygraphy's idea): ONNX -> pruned ONNX -> Q/DQ ONNX (+ TensorRT calibration
cache) -> plan -> cached plan. This package does the first arrows on the CPU with onnxruntime's
own quantization tools; ``edge_runtime.engines`` does the last ones.
"""
