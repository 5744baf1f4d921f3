"""Engine backends: mock (the simulated Jetson), onnxruntime, tensorrt."""
