"""Engine backends: mock (the simulated Jetson), onnxruntime, tensorrt, triton (a remote server)."""
