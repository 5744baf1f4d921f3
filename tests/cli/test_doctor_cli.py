"""`edge-runtime doctor` through the entry point: the checklist, --json, and the exit status
for this machine and for a fake AGX Orin (tests/fake_jetson.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_runtime.cli import doctor
from edge_runtime.cli.main import main, make_parser
from edge_runtime.doctor import Host, probe_tensorrt
from tests.fake_jetson import fake_orin

Write = Callable[[str, str], Path]
NO_TENSORRT_HERE = probe_tensorrt(Host())[0] is None


@pytest.fixture
def dla_set(write: Write, tiny_onnx: Path) -> Path:
    """One pipeline on TensorRT, built for DLA core 0."""
    del tiny_onnx
    write("dla.yaml", """
        onnx: tiny.onnx
        backend: tensorrt
        target: {device: dla0}
    """)
    return write("set.yaml", """
        pipelines:
          - name: rear
            source: {type: synthetic_camera, width: 64, height: 48, fps: 10}
            engine: dla.yaml
    """)


def test_doctor_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", "--help"])
    assert exit_info.value.code == 0
    assert "usage: edge-runtime doctor" in capsys.readouterr().out


@pytest.mark.skipif(not NO_TENSORRT_HERE, reason="TensorRT is installed on this host")
def test_this_machine_is_ready_for_the_simulated_backend(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("edge-runtime doctor: what the simulated backend needs")
    tensorrt = next(line for line in out.splitlines() if "TensorRT" in line)
    assert tensorrt.startswith("❌")
    assert "fix: pip install 'edge-runtime[tensorrt]'" in out  # brackets survive rich
    assert "✅  Python" in out
    assert out.rstrip().endswith("ready: everything the simulated backend needs is present")


@pytest.mark.skipif(not NO_TENSORRT_HERE, reason="TensorRT is installed on this host")
def test_json_on_this_machine_and_a_tensorrt_set_fails(
        tmp_path: Path, dla_set: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["doctor", "--json", *cache]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [set(row) for row in rows] == [{"name", "ok", "found", "fix", "required"}] * len(rows)
    tensorrt = next(row for row in rows if row["name"] == "TensorRT")
    assert tensorrt["ok"] is False and tensorrt["fix"] and tensorrt["required"] is False
    assert main(["doctor", "--json", str(dla_set), *cache]) == 1
    rows = json.loads(capsys.readouterr().out)
    tensorrt = next(row for row in rows if row["name"] == "TensorRT")
    assert tensorrt["required"] is True
    assert main(["doctor", str(dla_set), "--backend", "mock", *cache]) == 0
    capsys.readouterr()


def test_a_fake_agx_orin_exits_0_for_a_dla_set(
        tmp_path: Path, dla_set: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = fake_orin(tmp_path)
    args = make_parser().parse_args(["doctor", str(dla_set), "--cache-dir",
                                     str(tmp_path / "cache")])
    assert doctor.handle(args, host) == 0
    out = capsys.readouterr().out
    assert "❌" not in out and "➖" not in out
    assert "NVIDIA Jetson AGX Orin Developer Kit" in out and "needed for rear" in out
    assert out.rstrip().endswith(f"ready: everything {dla_set} needs is present")


def test_a_fake_module_without_dlas_exits_1(tmp_path: Path, dla_set: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    host = fake_orin(tmp_path, model="NVIDIA Jetson Orin Nano Developer Kit", dlas=())
    args = make_parser().parse_args(["doctor", "--json", str(dla_set), "--cache-dir",
                                     str(tmp_path / "cache")])
    assert doctor.handle(args, host) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows if row["ok"] is False] == ["DLA cores"]


def test_a_pipeline_file_that_does_not_load_is_a_user_error(
        write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write("bad.yaml", "pipelines:\n  - name: x\n    rate_hzz: 3\n")
    assert main(["doctor", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}:2:")
