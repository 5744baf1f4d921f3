"""``edge-runtime plan``: per power mode, does the set fit, and what gives (simulated time)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.cli.main import main
from tests.conftest import REPO
from tests.runtime.conftest import heavy_model

Write = Callable[[str, str], Path]
PIPELINE_KEYS = {"lane", "variant", "rate_hz", "hz", "p99_ms", "deadline_misses", "drops",
                 "reason", "state", "deadline_ms"}
#: A critical 30 Hz pipeline on the tiny engine beside a best-effort 10 Hz one on a heavy
#: engine (about 47 ms at 40 W, 216 ms at 15 W) on the same GPU lane.
BESIDE_HEAVY = """
    device: jetson-agx-orin-32gb
    pipelines:
      - name: critical
        source: {type: synthetic_camera, width: 32, height: 32, fps: 30}
        engine: tiny.yaml
        rate_hz: 30
        priority: critical
        deadline_ms: 33
      - name: heavy
        source: {type: synthetic_camera, width: 32, height: 32, fps: 10}
        engine: heavy.yaml
        rate_hz: 10
        priority: best_effort
        deadline_ms: 1000
"""
#: The heavy engine is the critical pipeline's: 100 ms is enough at 40 W, not at 15 W.
HEAVY_CRITICAL = """
    device: jetson-agx-orin-32gb
    pipelines:
      - name: critical
        source: {type: synthetic_camera, width: 32, height: 32, fps: 5}
        engine: heavy.yaml
        rate_hz: 5
        priority: critical
        deadline_ms: 100
"""


@pytest.fixture
def heavy_set(write: Write, tiny_recipe: Path, tmp_path: Path) -> Callable[[str], Path]:
    del tiny_recipe
    heavy_model(tmp_path / "heavy.onnx", layers=10)
    write("heavy.yaml", "onnx: heavy.onnx\nprecision: fp32\n")
    return lambda text: write("set.yaml", text)


def plan(tmp_path: Path, pipelines: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "plan.json"
    out.unlink(missing_ok=True)
    status = main(["plan", str(pipelines), "--json", str(out), "--cache-dir",
                   str(tmp_path / "cache"), *flags])
    return status, json.loads(out.read_text()) if out.exists() else {}


def test_plan_of_the_demo_set_writes_every_mode_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = plan(tmp_path, REPO / "pipelines" / "demo.yaml", "--modes", "15W,40W",
                          "--duration", "5")
    assert status == 0
    assert set(report["modes"]) == {"15W", "40W"}
    for mode in report["modes"].values():
        assert isinstance(mode["fits"], bool)
        assert "watts" in mode and "reason" in mode
        assert mode["lanes"] and all("utilisation" in lane for lane in mode["lanes"].values())
        assert mode["pipelines"]
        for row in mode["pipelines"].values():
            assert set(row) >= PIPELINE_KEYS
    out = capsys.readouterr().out
    assert "15W: " in out and "40W: " in out  # a progress line per mode


def test_a_best_effort_pipeline_degraded_at_15w_says_why(
        heavy_set: Callable[[str], Path], tmp_path: Path) -> None:
    plot = tmp_path / "plan.png"
    status, report = plan(tmp_path, heavy_set(BESIDE_HEAVY), "--modes", "15W,40W",
                          "--duration", "3", "--plot", str(plot))
    assert status == 0
    low, high = report["modes"]["15W"], report["modes"]["40W"]
    assert low["fits"] is True and low["watts"] > 0
    assert low["pipelines"]["heavy"]["reason"] is not None
    assert low["degraded"] == ["heavy"]
    critical = low["pipelines"]["critical"]
    assert critical["reason"] is None and critical["deadline_misses"] == 0
    assert critical["hz"] > 0 and critical["deadline_ms"] == 33
    assert high["fits"] is True and high["pipelines"]["heavy"]["reason"] is None
    assert high["pipelines"]["heavy"]["hz"] > 0
    assert plot.stat().st_size > 0


def test_a_mode_the_critical_pipeline_cannot_fit_is_reported_not_simulated(
        heavy_set: Callable[[str], Path], tmp_path: Path) -> None:
    path = heavy_set(HEAVY_CRITICAL)
    status, report = plan(tmp_path, path, "--modes", "15W,40W", "--duration", "2")
    assert status == 0
    low, high = report["modes"]["15W"], report["modes"]["40W"]
    assert low["fits"] is False and "does not fit" in low["reason"]
    assert low["watts"] is None and low["lanes"]["gpu"]["fits"] is False
    row = low["pipelines"]["critical"]
    assert row["hz"] is None and row["p99_ms"] is None and row["drops"] is None
    assert high["fits"] is True and high["pipelines"]["critical"]["hz"] > 0
    # only modes that do not fit: the set cannot even be configured, and is still reported
    status, report = plan(tmp_path, path, "--modes", "15W")
    assert status == 0
    assert report["modes"]["15W"]["fits"] is False


def test_an_unknown_mode_is_one_line_and_exit_2(
        heavy_set: Callable[[str], Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = plan(tmp_path, heavy_set(BESIDE_HEAVY), "--modes", "15W,9000W")
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("--modes: unknown power mode '9000W'") and "15W" in err


def test_without_matplotlib_plot_is_one_line(
        heavy_set: Callable[[str], Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises
    status, report = plan(tmp_path, heavy_set(BESIDE_HEAVY), "--modes", "40W", "--duration",
                          "1", "--plot", str(tmp_path / "plan.png"))
    assert status == 2
    assert report["modes"]["40W"]["fits"] is True  # the JSON was written first
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "matplotlib" in err
