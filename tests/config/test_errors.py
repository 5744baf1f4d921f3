"""A user's mistake gives one line ``FILE:LINE: key: what is wrong (fix)`` and exit status 2.

Covers the four mistakes the walking-skeleton issue names (a typo'd key, a wrong type, a missing
ONNX file, an unknown power mode) and their neighbours, through the real CLI entry point.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_runtime.cli.main import main

PIPELINES = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: cam
        source:
          type: synthetic_camera
          fps: 30
        engine: tiny.yaml
        postprocess: {type: classification, top_k: 2}
"""


@pytest.fixture
def pipeline_file(write: Callable[[str, str], Path], tiny_recipe: Path) -> Callable[..., Path]:
    del tiny_recipe

    def make(replace: tuple[str, str] | None = None, name: str = "set.yaml") -> Path:
        text = PIPELINES if replace is None else PIPELINES.replace(*replace)
        assert replace is None or text != PIPELINES, "the replacement must change the file"
        return write(name, text)

    return make


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    err = capsys.readouterr().err
    return status, err


def assert_one_line(err: str, starts: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(starts), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in err


def test_a_typo_in_a_key_names_file_line_key_and_the_likely_fix(
        pipeline_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = pipeline_file(("      fps: 30", "      fsp: 30"))
    status, err = run_cli(capsys, "run", str(path), "--duration", "1")
    assert status == 2
    assert_one_line(err, f"{path}:7: pipelines[0].source.fsp: ", "unknown key 'fsp'",
                    "did you mean 'fps'?")


def test_a_wrong_type_names_the_value(pipeline_file: Callable[..., Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = pipeline_file(("      fps: 30", "      fps: fast"))
    status, err = run_cli(capsys, "run", str(path))
    assert status == 2
    assert_one_line(err, f"{path}:7: pipelines[0].source.fps: ", "valid number", "'fast'")


def test_a_missing_onnx_file_points_at_the_recipe(
        write: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    recipe = write("broken.yaml", "precision: fp16\nonnx: models/nowhere.onnx\n")
    status, err = run_cli(capsys, "build", str(recipe))
    assert status == 2
    assert_one_line(err, f"{recipe}:2: onnx: ", "ONNX file not found", "nowhere.onnx",
                    "relative to the recipe")


def test_an_unknown_power_mode_lists_the_known_ones(
        pipeline_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = pipeline_file(("power_mode: 40W", "power_mode: 25W"))
    status, err = run_cli(capsys, "run", str(path))
    assert status == 2
    assert_one_line(err, f"{path}:2: power_mode: ", "unknown power mode '25W'",
                    "known: MAXN, 15W, 30W, 40W")


def test_an_unknown_power_mode_on_the_command_line_names_the_flag(
        pipeline_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_cli(capsys, "run", str(pipeline_file()), "--power", "99W")
    assert status == 2
    assert_one_line(err, "--power: unknown power mode '99W'")
    status, err = run_cli(capsys, "run", str(pipeline_file()), "--switch", "15W@soon")
    assert status == 2
    assert_one_line(err, "--switch '15W@soon': 'soon' is not a number of seconds")


def test_a_misspelt_type_tag_suggests_the_right_one(
        pipeline_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = pipeline_file(("type: classification", "type: clasification"))
    status, err = run_cli(capsys, "run", str(path))
    assert status == 2
    assert_one_line(err, f"{path}:9: pipelines[0].postprocess: ",
                    "did you mean 'classification'?")


def test_a_typo_inside_a_tagged_union_member_gets_a_suggestion(
        pipeline_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = pipeline_file(("top_k: 2", "topk: 2"))
    status, err = run_cli(capsys, "run", str(path))
    assert status == 2
    assert_one_line(err, f"{path}:9: pipelines[0].postprocess.topk: ", "did you mean 'top_k'?")


def test_a_missing_recipe_and_an_unknown_device(
        pipeline_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = pipeline_file(("engine: tiny.yaml", "engine: nope.yaml"))
    status, err = run_cli(capsys, "run", str(path))
    assert status == 2
    assert_one_line(err, f"{path}:8: pipelines[0].engine: ", "engine recipe not found")
    path = pipeline_file(("jetson-agx-orin-32gb", "jetson-tx9"), name="device.yaml")
    status, err = run_cli(capsys, "run", str(path))
    assert status == 2
    assert_one_line(err, f"{path}:1: device: ", "unknown device 'jetson-tx9'",
                    "jetson-agx-orin-32gb")


def test_duplicate_keys_and_bad_yaml_are_reported_not_silently_resolved(
        write: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    dup = write("dup.yaml", "onnx: a.onnx\nprecision: fp16\nprecision: int8\n")
    status, err = run_cli(capsys, "build", str(dup))
    assert status == 2
    assert_one_line(err, f"{dup}:3: precision: duplicate key 'precision'")
    bad = write("bad.yaml", "onnx: [a.onnx\n")
    status, err = run_cli(capsys, "build", str(bad))
    assert status == 2
    assert_one_line(err, f"{bad}:2: YAML syntax error")


def test_garbage_bytes_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)) * 2)
    control = tmp_path / "control.yaml"
    control.write_bytes(b"device: \x07\x01\n")
    for path, why in ((binary, "not UTF-8 text"), (control, "not readable as YAML")):
        status, err = run_cli(capsys, "run", str(path))
        assert status == 2
        assert_one_line(err, f"{path}: {why}")


def test_a_missing_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, err = run_cli(capsys, "run", str(tmp_path / "absent.yaml"))
    assert status == 2
    assert_one_line(err, f"{tmp_path / 'absent.yaml'}: file not found")


def test_the_installed_command_exits_2_without_a_traceback(
        pipeline_file: Callable[..., Path]) -> None:
    path = pipeline_file(("      fps: 30", "      fsp: 30"))
    done = subprocess.run([sys.executable, "-m", "edge_runtime", "run", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{path}:7: pipelines[0].source.fsp: unknown key 'fsp' (did you mean 'fps'?)"]
