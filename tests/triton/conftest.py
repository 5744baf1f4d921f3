"""The Triton venv's Python for these tests: from $EDGE_RUNTIME_TRITON_PYTHON (`make unit` sets
it) or .venv-triton. Without one the tests fail, saying how to make it: never a skip, so a
missing server cannot pass for a working one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.errors import UserError
from edge_runtime.triton.launch import find_triton_python
from tests.conftest import REPO

MODELS = REPO / "engines" / "models"
CLASSIFIER = MODELS / "shapes_classifier.onnx"
DETECTOR = MODELS / "shapes_detector.onnx"
COMMANDS = MODELS / "commands_nlu.onnx"


@pytest.fixture(scope="session")
def triton_python() -> Path:
    try:
        return find_triton_python()
    except UserError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


def reference(onnx: Path, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """What onnxruntime computes for ``feed``, run directly on this side."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    outputs: list[np.ndarray] = session.run(None, feed)
    return outputs


def infer(url: str, model: str, feed: dict[str, np.ndarray],
          outputs: list[str]) -> list[np.ndarray]:
    """One gRPC inference of ``model`` with ``feed``, on a client of its own."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import np_to_triton_dtype

    inputs = []
    for name, value in feed.items():
        tensor = grpcclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    client = grpcclient.InferenceServerClient(url)
    try:
        result = client.infer(model, inputs, outputs=[
            grpcclient.InferRequestedOutput(name) for name in outputs], client_timeout=30)
        return [result.as_numpy(name) for name in outputs]
    finally:
        client.close()
