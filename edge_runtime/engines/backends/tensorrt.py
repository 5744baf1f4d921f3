"""The TensorRT backend's seam.

TensorRT exists only on the device (JetPack) and is imported lazily, so that the rest of
edge-runtime works without it. The builder and runner that use the real API (ONNX parser, FP16,
INT8 calibration and Q/DQ, DLA with GPU fallback, optimisation profiles, timing cache) are the
next piece of work (the engine-builder issue); until then this backend says plainly what is
missing instead of pretending.
"""

from __future__ import annotations

from edge_runtime.engines.artifact import Artifact
from edge_runtime.engines.base import BuildRequest, EngineBuilder, Progress
from edge_runtime.errors import MissingDependencyError, UserError


def tensorrt_version() -> str | None:
    """The installed TensorRT version, or None when TensorRT is not importable."""
    try:
        import tensorrt  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(tensorrt.__version__)


class TensorRTBuilder(EngineBuilder):
    backend = "tensorrt"

    def __init__(self) -> None:
        version = tensorrt_version()
        if version is None:
            raise MissingDependencyError("TensorRT", "tensorrt",
                                         "it ships with JetPack on a Jetson; on x86 use "
                                         "--backend mock or onnxruntime")
        self.version = version

    def identity(self) -> dict[str, str]:
        return {"version": self.version, "device": "cuda"}

    def build(self, request: BuildRequest, progress: Progress | None = None) -> Artifact:
        raise UserError("building TensorRT engines is not in this version of edge-runtime yet "
                        "(use --backend onnxruntime on the device for now)", key="backend")
