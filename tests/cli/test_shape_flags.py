"""trtexec's spellings on ``build``: --shapes / --minShapes / --optShapes / --maxShapes and the
--fp16 / --int8 / --best aliases, on a real ONNX model with dynamic H and W."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.cli.main import main
from edge_runtime.cli.shape_flags import input_profiles, parse_shapes
from edge_runtime.errors import UserError


def dynamic_hw_model(path: Path) -> Path:
    """Conv -> global pool -> flatten over x[1, 3, H, W] (a detector's dynamic input)."""
    weights = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["y"], name="flat")]
    graph = helper.make_graph(
        nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(weights, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_parse_shapes_in_trtexecs_spelling() -> None:
    assert parse_shapes("x:1x3x480x640,mask:1x1x480x640", "--shapes") == {
        "x": [1, 3, 480, 640], "mask": [1, 1, 480, 640]}
    assert parse_shapes("input:0:1X8", "--shapes") == {"input:0": [1, 8]}  # TF-style names
    for bad, why in [("x", "not NAME:DIMS"), ("x:1x3xAx640", "whole numbers"),
                     ("x:1x0x4", "at least 1"), ("x:1x2,x:1x3", "given twice"),
                     (":1x3", "not NAME:DIMS")]:
        with pytest.raises(UserError, match=why) as caught:
            parse_shapes(bad, "--shapes")
        assert caught.value.key == "--shapes" and "\n" not in str(caught.value)


def test_profiles_default_min_and_max_to_opt_as_trtexec_does() -> None:
    assert input_profiles(None, None, "x:1x3x480x640", "x:4x3x480x640") == {
        "x": {"min": [1, 3, 480, 640], "opt": [1, 3, 480, 640], "max": [4, 3, 480, 640]}}
    assert input_profiles("x:1x3x8x8", None, None, None) == {"x": {"shape": [1, 3, 8, 8]}}
    with pytest.raises(UserError, match="no --optShapes"):
        input_profiles(None, "x:1x3x8x8", None, None)
    with pytest.raises(UserError, match="--shapes and a min/opt/max profile"):
        input_profiles("x:1x3x8x8", None, "x:1x3x8x8", None)


def build(tmp_path: Path, *flags: str) -> int:
    model = dynamic_hw_model(tmp_path / "dyn.onnx")
    return main(["build", "--onnx", str(model), "--cache-dir", str(tmp_path / "cache"),
                 "--json", str(tmp_path / "out.json"), *flags])


def test_shapes_on_the_command_line_build_a_dynamic_model(tmp_path: Path) -> None:
    assert build(tmp_path, "--shapes=x:1x3x480x640", "--fp16") == 0
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["precision"] == "fp16"
    assert "1x3x480x640" in json.dumps(summary["inputs"])


def test_a_profile_on_the_command_line(tmp_path: Path) -> None:
    assert build(tmp_path, "--minShapes=x:1x3x240x320", "--optShapes=x:1x3x480x640",
                 "--maxShapes=x:1x3x720x1280") == 0
    key = json.loads((tmp_path / "out.json").read_text())["key"]
    manifest = json.loads((tmp_path / "cache" / key / "manifest.json").read_text())
    assert manifest["recipe"]["inputs"]["x"] == {
        "shape": None, "min": [1, 3, 240, 320], "opt": [1, 3, 480, 640], "max": [1, 3, 720, 1280]}


@pytest.mark.parametrize(("flags", "says"), [
    ((), "--shapes=x:1x3xHxW"),  # the dynamic-dimension message names the flag
    (("--shapes=x:1x3xAx640",), "--shapes: 'x:1x3xAx640': the dimensions must be whole"),
    (("--shapes=x:1x3x480x640", "--int8"), "--data: an INT8 build of dyn.onnx needs calibration "
                                           "data: --data DIR"),
    (("--best", "--precision", "fp16"), "--best and --precision fp16 disagree"),
    (("--minShapes=x:1x3x720x720", "--optShapes=x:1x3x480x480"), "min <= opt <= max"),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          flags: tuple[str, ...], says: str) -> None:
    assert build(tmp_path, *flags) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
