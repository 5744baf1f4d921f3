"""ONNX files that are not models, through the real entry point: one `FILE: what (fix)` line
and exit 2, never protobuf's traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from onnx import helper

from edge_runtime.cli.main import main

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "engines" / "models" / "shapes_classifier.onnx"


def garbage(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 4)
    return path


def truncated(path: Path) -> Path:
    path.write_bytes(MODEL.read_bytes()[:3000])
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def no_graph(path: Path) -> Path:
    model = helper.make_model(helper.make_graph([], "empty", [], []))
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("make", [garbage, truncated, empty, no_graph])
@pytest.mark.parametrize("command", ["build", "inspect"])
def test_a_file_that_is_not_a_model_is_one_line_and_exit_2(
        make: Callable[[Path], Path], command: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path / "model.onnx")
    argv = (["build", "--onnx", str(path), "--cache-dir", str(tmp_path / "cache")]
            if command == "build" else ["inspect", str(path)])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: ") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert "not an ONNX model" in err or "no graph" in err or "is empty (0 bytes)" in err
