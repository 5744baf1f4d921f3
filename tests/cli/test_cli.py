"""Every subcommand through the real entry point: --help, power, build, cache, run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_runtime.cli.main import COMMANDS, main, make_parser

SUBCOMMANDS = [["build"], ["run"], ["demo"], ["ros2"], ["power"], ["power", "list"], ["cache"],
               ["cache", "ls"], ["cache", "verify"], ["cache", "clear"]]


@pytest.mark.parametrize("argv", [[], *SUBCOMMANDS], ids=lambda a: " ".join(a) or "top")
def test_every_subcommand_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: edge-runtime" in capsys.readouterr().out


def test_the_parser_lists_every_command_module() -> None:
    help_text = make_parser().format_help()
    for module in COMMANDS:
        assert module.__name__.rsplit(".", 1)[-1] in help_text


def test_power_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["power", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("jetson-agx-orin-32gb", "jetson-agx-orin-64gb", "jetson-orin-nx-16gb",
                 "jetson-orin-nano-8gb"):
        assert name in out
    assert main(["power", "list", "--device", "jetson-agx-orin-32gb"]) == 0
    out = capsys.readouterr().out
    assert "MODE_15W" in out and "MODE_40W" in out and "816" in out  # 40 W GPU cap, MHz


def test_build_then_cache_ls_verify_clear(tiny_recipe: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    report = tmp_path / "build.json"
    assert main(["build", str(tiny_recipe), *cache, "--json", str(report)]) == 0
    first = json.loads(report.read_text())
    assert first["cache_hit"] is False and first["backend"] == "mock"
    assert set(first["latency_ms_by_mode"]) == {"MAXN", "15W", "30W", "40W"}
    assert first["latency_ms_by_mode"]["15W"] > first["latency_ms_by_mode"]["MAXN"]
    assert main(["build", str(tiny_recipe), *cache, "--json", str(report)]) == 0
    assert json.loads(report.read_text())["cache_hit"] is True
    assert main(["build", str(tiny_recipe), *cache, "--backend", "onnxruntime"]) == 0
    capsys.readouterr()
    assert main(["cache", "ls", *cache]) == 0
    assert first["key"] in capsys.readouterr().out
    assert main(["cache", "verify", *cache]) == 0
    assert "2 ok, 0 damaged" in capsys.readouterr().out
    plan = tmp_path / "cache" / first["key"] / "plan.bin"
    plan.write_bytes(plan.read_bytes()[:-1])
    assert main(["cache", "verify", *cache]) == 1
    assert main(["cache", "clear", *cache]) == 0
    assert "removed 2" in capsys.readouterr().out


def test_run_writes_the_summary_json(write: Callable[[str, str], Path], tiny_recipe: Path,
                                     tmp_path: Path) -> None:
    del tiny_recipe
    path = write("set.yaml", """
        device: jetson-agx-orin-32gb
        pipelines:
          - name: cam
            source: {type: synthetic_camera, width: 64, height: 48, fps: 20, scene: single}
            engine: tiny.yaml
            postprocess: {type: classification}
            deadline_ms: 50
    """)
    out = tmp_path / "summary.json"
    status = main(["run", str(path), "--clock", "sim", "--duration", "2", "--power", "40W",
                   "--switch", "15W@half", "--json", str(out), "--cache-dir",
                   str(tmp_path / "cache")])
    assert status == 0
    summary = json.loads(out.read_text())
    assert set(summary["pipelines"]["cam"]) == {"40W", "15W"}
    for row in summary["pipelines"]["cam"].values():
        assert {"frames", "hz", "p50_ms", "p99_ms", "deadline_misses", "drops"} <= set(row)
        assert row["frames"] == 20
    assert all("watts" in mode for mode in summary["modes"].values())


def test_ros2_checks_the_set_before_ros_and_says_when_ros_is_missing(
        write: Callable[[str, str], Path], tiny_recipe: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """This venv has no rclpy (tests/ros2 runs the node in the ROS 2 venv)."""
    del tiny_recipe
    bad = write("bad.yaml", "pipelines:\n  - name: x\n    rate_hzz: 3\n")
    assert main(["ros2", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}:2:")
    good = write("good.yaml", """
        pipelines:
          - name: cam
            source: {type: ros2}
            engine: tiny.yaml
    """)
    assert main(["ros2", str(good), "extra"]) == 2
    assert "ROS arguments go after --ros-args" in capsys.readouterr().err
    assert main(["ros2", str(good)]) == 2
    err = capsys.readouterr().err
    assert "ROS 2 is not importable here" in err and len(err.strip().splitlines()) == 1


def test_run_refuses_a_ros2_source_and_names_the_command(
        write: Callable[[str, str], Path], tiny_recipe: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    del tiny_recipe
    path = write("set.yaml", """
        pipelines:
          - name: cam
            source: {type: ros2}
            engine: tiny.yaml
    """)
    assert main(["run", str(path), "--clock", "sim", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:3: pipelines[0].source.type:")
    assert "edge-runtime ros2" in err
