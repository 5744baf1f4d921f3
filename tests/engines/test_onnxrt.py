"""The onnxruntime backend's TensorRT EP handling, against the real onnxruntime (CPU build):
option keys gated on the release, and the manifest recording the providers that started."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_runtime.engines.backends.onnxrt import (
    OnnxRuntimeBuilder,
    gate_options,
    provider_options,
    release,
)
from tests.engines.tensorrt.conftest import make_request

ASKED = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_keys_newer_than_the_release_are_left_out_with_a_note(tmp_path: Path) -> None:
    request = make_request(tmp_path, sparsity="2:4")
    trt = provider_options(request.recipe, False, tmp_path, ASKED)["TensorrtExecutionProvider"]
    kept, notes = gate_options(trt, "1.16.3")
    assert "trt_timing_cache_path" not in kept and "trt_sparsity_enable" not in kept
    assert kept["trt_timing_cache_enable"] == "1" and "trt_fp16_enable" in kept
    assert notes == [
        "onnxruntime 1.16.3 has no TensorRT EP option trt_sparsity_enable (from 1.17): left out",
        "onnxruntime 1.16.3 has no TensorRT EP option trt_timing_cache_path (from 1.17): "
        "left out"]
    assert gate_options(trt, "1.18.0") == (trt, [])
    assert release("1.17.0.dev20240101") == (1, 17) and release("2") == (2, 0)


def test_the_manifest_names_the_providers_that_started(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """onnxruntime's wrapper falls back without raising when the TensorRT EP cannot start
    (here: a CPU build, as on a Jetson whose EP refused an option); the manifest must not
    claim TensorRT."""
    request = make_request(tmp_path, precision="fp16")
    with caplog.at_level(logging.WARNING):
        artifact = OnnxRuntimeBuilder(providers=list(ASKED)).build(request)
    manifest = artifact.manifest
    assert manifest.backend_options["providers"] == ["CPUExecutionProvider"]
    assert manifest.lane == "cpu" and manifest.backend_options["provider_options"] == {}
    assert any("TensorrtExecutionProvider, CUDAExecutionProvider did not start" in n
               for n in manifest.notes)
    assert "did not start" in caplog.text
