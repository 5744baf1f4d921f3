"""TensorRTBuilder end to end against the fake TensorRT of each release."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edge_runtime.engines.backends.tensorrt import TensorRTBuilder
from edge_runtime.engines.backends.tensorrt.network import Placement
from edge_runtime.errors import MissingDependencyError, UserError
from tests.conftest import REPO
from tests.engines.tensorrt.conftest import InstallTrt, make_request
from tests.engines.tensorrt.fake_cuda import FakeCuda


def build(tmp_path: Path, cuda: FakeCuda, progress: list[str] | None = None,
          **recipe: Any) -> Any:
    builder = TensorRTBuilder(cuda=cuda)
    say = progress.append if progress is not None else None
    return builder.build(make_request(tmp_path, **recipe), say)


@pytest.mark.parametrize(("version", "network_flags"), [("8.5.2.2", 1), ("10.3.0.30", 0)])
def test_fp16_build(install_trt: InstallTrt, cuda: FakeCuda, tmp_path: Path, version: str,
                    network_flags: int) -> None:
    trt = install_trt(version)
    artifact = build(tmp_path, cuda, precision="fp16", max_batch=4, workspace_mb=256)
    rec = trt.recorder
    assert rec.builds == 1 and rec.build_engine_calls == 0  # build_serialized_network only
    assert rec.networks[0].flags == network_flags
    config = rec.configs[-1]
    assert config.flags == {"FP16"} and config.pools == {"WORKSPACE": 256 << 20}
    assert config.profiles[0].shapes["image"] == ([1, 3, 32, 32], [1, 3, 32, 32],
                                                  [4, 3, 32, 32])
    manifest = artifact.manifest
    assert (manifest.backend, manifest.lane, manifest.precision) == ("tensorrt", "gpu", "fp16")
    assert manifest.backend_version == version and manifest.device == "Orin sm87"
    assert manifest.versions["dla_cores"] == "2"
    assert [s.describe() for s in manifest.inputs] == ["image: float32[batchx3x32x32]"]
    assert [s.describe() for s in manifest.outputs] == ["logits: float32[1x4]"]
    assert manifest.plan_bytes == len(artifact.plan)


def test_identity_changes_with_version_and_device(install_trt: InstallTrt,
                                                  cuda: FakeCuda) -> None:
    install_trt("10.3.0.30", dla_cores=0)
    assert TensorRTBuilder(cuda=cuda).identity() == {
        "version": "10.3.0.30", "device": "Orin sm87", "dla_cores": "0"}


def test_timing_cache_persists_across_builds(install_trt: InstallTrt, cuda: FakeCuda,
                                             tmp_path: Path) -> None:
    trt = install_trt("10.3.0.30")
    build(tmp_path, cuda)
    cache = tmp_path / "work" / "timing-trt10.3.0.30-orin-sm87.cache"
    assert cache.read_bytes() == b"|build1"
    build(tmp_path, cuda)
    assert trt.recorder.configs[-1].loaded_timing_cache == b"|build1"
    assert cache.read_bytes() == b"|build1|build2"


def test_progress_monitor_on_10_coarse_messages_on_8(install_trt: InstallTrt, cuda: FakeCuda,
                                                      tmp_path: Path) -> None:
    install_trt("10.3.0.30")
    ten: list[str] = []
    build(tmp_path, cuda, ten)
    assert "TensorRT: Building engine" in ten and "TensorRT: Building engine 4/4" in ten
    install_trt("8.5.2.2")
    eight: list[str] = []
    build(tmp_path, cuda, eight)
    assert any("no progress reports before 10.0" in m for m in eight)
    assert not any(m.startswith("TensorRT: Building") for m in eight)


def test_sparsity_and_pinned_layers(install_trt: InstallTrt, cuda: FakeCuda,
                                    tmp_path: Path) -> None:
    trt = install_trt("8.5.2.2")
    artifact = build(tmp_path, cuda, precision="fp16", sparsity="2:4",
                     high_precision_layers=("gemm_4",))
    assert trt.recorder.configs[-1].flags == {"FP16", "SPARSE_WEIGHTS",
                                              "OBEY_PRECISION_CONSTRAINTS"}
    assert "2 layers pinned to float for accuracy" in artifact.manifest.notes


def feeds(count: int) -> Iterator[dict[str, npt.NDArray[Any]]]:
    for i in range(count):
        yield {"image": np.full((1, 3, 32, 32), i, np.float32)}


def test_implicit_int8_calibrates_from_feeds_and_keeps_the_cache(
        install_trt: InstallTrt, cuda: FakeCuda, tmp_path: Path) -> None:
    trt = install_trt("8.5.2.2")
    artifact = build(tmp_path, cuda, precision="int8", calibration_feeds=feeds(3))
    config = trt.recorder.configs[-1]
    assert config.flags == {"FP16", "INT8"} and config.calibration_profile is not None
    batches = trt.recorder.calibration_batches
    assert [float(b[0].mean()) for b in batches] == [0.0, 1.0, 2.0]
    written = tmp_path / "work" / "calibration" / f"{'k' * 64}.cache"
    assert written.read_bytes().startswith(b"TRT-8502-EntropyCalibration2")
    assert artifact.manifest.precision == "int8"
    assert cuda.memory == {}  # calibration buffers freed


def test_qdq_build_needs_no_calibrator(install_trt: InstallTrt, cuda: FakeCuda,
                                       tmp_path: Path) -> None:
    trt = install_trt("10.3.0.30")
    build(tmp_path, cuda, precision="int8", quantized=True,
          calibration_cache=b"TRT-100300-EntropyCalibration2\n")
    config = trt.recorder.configs[-1]
    assert "INT8" in config.flags and getattr(config, "int8_calibrator", None) is None


def test_tensorrt_11_refuses_implicit_int8(install_trt: InstallTrt, cuda: FakeCuda,
                                           tmp_path: Path) -> None:
    trt = install_trt("11.0.0")
    with pytest.raises(UserError, match="TensorRT 11 builds INT8 only from Q/DQ models"):
        build(tmp_path, cuda, precision="int8", calibration_feeds=feeds(2))
    artifact = build(tmp_path, cuda, precision="int8", quantized=True)
    assert trt.recorder.networks[-1].flags == 1 << 1  # strongly typed, no EXPLICIT_BATCH
    assert trt.recorder.configs[-1].flags == set()   # no precision flags exist
    assert artifact.manifest.precision == "int8"


def test_dla_build_reports_fallback_layers(install_trt: InstallTrt, cuda: FakeCuda,
                                           tmp_path: Path) -> None:
    trt = install_trt("8.5.2.2")
    artifact = build(tmp_path, cuda, precision="fp16", target={"device": "dla1"})
    config = trt.recorder.configs[-1]
    assert config.DLA_core == 1 and {"FP16", "GPU_FALLBACK"} <= config.flags
    manifest = artifact.manifest
    assert manifest.lane == "dla1"
    assert Placement.from_manifest(manifest) == Placement("dla1", 1, 6, ["gemm_4"])
    assert any("fall back to the GPU: gemm_4" in note for note in manifest.notes)


def test_dla_int8_parses_the_float_graph(install_trt: InstallTrt, cuda: FakeCuda,
                                         tmp_path: Path) -> None:
    trt = install_trt("8.5.2.2")
    cache = b"TRT-100300-EntropyCalibration2\nimage: 3c010204\n"  # as the Q/DQ stage writes
    artifact = build(tmp_path, cuda, precision="int8", quantized=True, calibration_cache=cache,
                     target={"device": "dla0"})
    assert trt.recorder.configs[-1].int8_calibrator.read_calibration_cache() == \
        b"TRT-8502-EntropyCalibration2\nimage: 3c010204\n"  # tagged for the running 8.5.2
    assert any("built from the float graph" in n for n in artifact.manifest.notes)


def test_missing_dla_core_falls_back_or_fails(install_trt: InstallTrt, cuda: FakeCuda,
                                              tmp_path: Path) -> None:
    install_trt("10.3.0.30", dla_cores=1)
    artifact = build(tmp_path, cuda, target={"device": "dla1"})
    assert artifact.manifest.lane == "gpu"
    assert any("no dla1 on this device" in n for n in artifact.manifest.notes)
    with pytest.raises(UserError, match="1 DLA cores, no dla1, and gpu_fallback is off"):
        build(tmp_path, cuda, target={"device": "dla1", "gpu_fallback": False})


def test_a_failed_build_says_why_in_one_line(install_trt: InstallTrt, cuda: FakeCuda,
                                             tmp_path: Path) -> None:
    install_trt("10.3.0.30", fail_build="[builder.cpp::build] Error Code 4: out of workspace")
    with pytest.raises(UserError, match=r"TensorRT 10.3 could not build tiny: .*Error Code 4"):
        build(tmp_path, cuda)


def test_without_tensorrt_the_builder_says_what_to_install(no_trt: None) -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'edge-runtime\[tensorrt\]'"):
        TensorRTBuilder()


def test_cli_build_with_tensorrt_backend_exits_2_without_tensorrt() -> None:
    done = subprocess.run([sys.executable, "-m", "edge_runtime", "build",
                           "engines/classifier.yaml", "--backend", "tensorrt"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "TensorRT is not available" in done.stderr
    assert "pip install 'edge-runtime[tensorrt]'" in done.stderr
    assert "Traceback" not in done.stderr


def bad_feeds() -> Iterator[dict[str, npt.NDArray[Any]]]:
    """Two good frames, then one of the wrong size: the user's mistake, found in get_batch."""
    yield from feeds(2)
    yield {"image": np.zeros((1, 3, 16, 16), np.float32)}


def test_a_calibration_error_reaches_the_user_not_the_wrappers_stderr(
        install_trt: InstallTrt, cuda: FakeCuda, tmp_path: Path) -> None:
    """TensorRT's wrapper swallows what get_batch raises and reads it as "no more batches";
    the builder must re-raise it once the build returns, and keep no cache from it."""
    trt = install_trt("10.3.0.30")
    with pytest.raises(UserError, match=r"calibration input 'image' has shape \[1, 3, 16, 16\]"):
        build(tmp_path, cuda, [], precision="int8", calibration_feeds=bad_feeds())
    assert trt.recorder.swallowed == []  # nothing left for the wrapper to print
    assert len(trt.recorder.calibration_batches) == 2
    assert not (tmp_path / "work" / "calibration").exists()  # no cache from a cut-short run
    assert cuda.memory == {}


def test_a_cache_that_cannot_be_written_fails_the_build(install_trt: InstallTrt,
                                                        cuda: FakeCuda, tmp_path: Path) -> None:
    trt = install_trt("8.5.2.2")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "calibration").write_text("a file where the directory goes")
    with pytest.raises(OSError):
        build(tmp_path, cuda, precision="int8", calibration_feeds=feeds(2))
    assert trt.recorder.swallowed == []


def test_a_failing_progress_callback_cancels_the_build_and_is_raised(
        install_trt: InstallTrt, cuda: FakeCuda, tmp_path: Path) -> None:
    """On 10.x an exception in step_complete would cancel the build without a word."""
    trt = install_trt("10.3.0.30")

    def say(line: str) -> None:
        if "1/4" in line:
            raise KeyboardInterrupt  # Ctrl-C while TensorRT holds the thread
    with pytest.raises(KeyboardInterrupt):
        TensorRTBuilder(cuda=cuda).build(make_request(tmp_path), say)
    assert trt.recorder.swallowed == [] and trt.recorder.builds == 1


def test_tensorrt_11_has_no_dla(install_trt: InstallTrt, cuda: FakeCuda, tmp_path: Path) -> None:
    """TensorRT 11.0/11.1 do not support DLA: the GPU when the fallback is allowed, else refused."""
    trt = install_trt("11.0.0")
    artifact = build(tmp_path, cuda, precision="fp16", target={"device": "dla0"})
    assert artifact.manifest.lane == "gpu"
    assert trt.recorder.configs[-1].DLA_core == -1  # never asked for a core
    assert any("TensorRT 11.0 has no DLA support" in n for n in artifact.manifest.notes)
    with pytest.raises(UserError, match=r"TensorRT 11\.0 does not support DLA"):
        build(tmp_path, cuda, precision="fp16",
              target={"device": "dla0", "gpu_fallback": False})


def test_a_dla_gets_fixed_shapes_or_a_one_line_refusal(install_trt: InstallTrt,
                                                        cuda: FakeCuda, tmp_path: Path) -> None:
    """DLA does not support dynamic dimensions: min, opt and max must be equal."""
    trt = install_trt("10.3.0.30")
    with pytest.raises(UserError, match=r"a DLA runs only fixed shapes .* input 'image' has a "
                                        r"range, max_batch: 4 .*set max_batch: 1") as caught:
        build(tmp_path, cuda, precision="fp16", max_batch=4, target={"device": "dla0"})
    assert caught.value.key == "inputs.image"
    ranged = {"image": {"min": [1, 3, 32, 32], "opt": [2, 3, 32, 32], "max": [4, 3, 32, 32]}}
    with pytest.raises(UserError, match=r"give inputs.image.shape \[2, 3, 32, 32\]"):
        build(tmp_path, cuda, precision="fp16", inputs=ranged, target={"device": "dla0"})
    artifact = build(tmp_path, cuda, precision="fp16", target={"device": "dla0"})
    lo, opt, hi = trt.recorder.configs[-1].profiles[0].shapes["image"]
    assert list(lo) == list(opt) == list(hi) == [1, 3, 32, 32]
    assert "DLA profile fixed at image 1x3x32x32" in artifact.manifest.notes


def test_a_module_without_the_dla_keeps_the_batch_range(install_trt: InstallTrt,
                                                         cuda: FakeCuda, tmp_path: Path) -> None:
    trt = install_trt("10.3.0.30", dla_cores=0)  # an Orin Nano: the GPU takes the build
    artifact = build(tmp_path, cuda, precision="fp16", max_batch=4, target={"device": "dla0"})
    assert artifact.manifest.lane == "gpu"
    assert list(trt.recorder.configs[-1].profiles[0].shapes["image"][2]) == [4, 3, 32, 32]
