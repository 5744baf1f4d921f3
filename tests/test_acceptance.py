"""The walking skeleton's acceptance checks, end to end through the CLI.

- ``edge-runtime demo`` produces the summary for 4 pipelines x 2 power modes, with watts per
  mode; at the switch to 15 W the planner moves the best-effort rear detector from the GPU to
  the DLA (with its reason), and the critical pipeline misses no deadline in either mode;
- ``edge-runtime run pipelines/demo.yaml --backend onnxruntime --clock sim`` runs the same set
  with real CPU inference, and the live accuracy of each pipeline is within 5 points of the
  held-out figure in engines/models/metrics.json. (On the simulated clock, so the frame counts
  are exact whatever this host's speed; speed is measured in bench/, not asserted here.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_runtime.cli.main import main
from tests.conftest import REPO

KEYS = {"frames", "hz", "p50_ms", "p99_ms", "deadline_misses", "drops", "late_drops",
        "rate_hz", "lane", "variant", "reason"}
MODEL_OF = {"front_detector": "shapes_detector", "left_detector": "shapes_detector",
            "right_detector": "shapes_detector", "rear_detector": "shapes_detector"}


def test_demo_summary_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo.json"
    status = main(["demo", "--duration", "6", "--pace", "0", "--json", str(out),
                   "--cache-dir", str(tmp_path / "cache")])
    assert status == 0
    summary = json.loads(out.read_text())
    assert set(summary["pipelines"]) == set(MODEL_OF)
    for pipeline, by_mode in summary["pipelines"].items():
        assert set(by_mode) == {"40W", "15W"}, pipeline
        for row in by_mode.values():
            assert set(row) >= KEYS
            assert "accuracy" in row  # the demo computes real outputs
    assert set(summary["modes"]) == {"40W", "15W"}
    assert all(mode["watts"] > 0 for mode in summary["modes"].values())
    assert summary["modes"]["15W"]["watts"] < summary["modes"]["40W"]["watts"]
    front = summary["pipelines"]["front_detector"]
    assert front["40W"]["deadline_misses"] == 0
    assert front["40W"]["frames"] == 90 and front["15W"]["frames"] == 90
    assert front["15W"]["p50_ms"] > front["40W"]["p50_ms"]
    rear = summary["pipelines"]["rear_detector"]
    assert (rear["40W"]["lane"], rear["40W"]["reason"]) == ("gpu", None)
    assert rear["15W"]["lane"] == "dla0" and "moved" in rear["15W"]["reason"]
    assert rear["15W"]["frames"] > 0
    assert front["15W"]["deadline_misses"] == 0 and front["15W"]["reason"] is None
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert (tmp_path / "demo-output" / "front_detector.jsonl").exists()


def test_real_cpu_inference_scores_like_the_held_out_figures(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    status = main(["run", str(REPO / "pipelines" / "demo.yaml"), "--backend", "onnxruntime",
                   "--clock", "sim", "--duration", "8", "--json", str(out),
                   "--cache-dir", str(tmp_path / "c")])
    assert status == 0
    summary = json.loads(out.read_text())
    figures = json.loads((REPO / "engines" / "models" / "metrics.json").read_text())
    for pipeline, model in MODEL_OF.items():
        (row,) = summary["pipelines"][pipeline].values()
        assert row["frames"] == 8 * {"front_detector": 30, "left_detector": 15,
                                     "right_detector": 15, "rear_detector": 10}[pipeline], \
            (pipeline, row)
        assert abs(row["accuracy"] - figures[model]["value"]) <= 0.05, (pipeline, row)
    assert {e["lane"] for e in summary["engines"].values()} == {"cpu"}


def test_plan_predicts_the_demo_fits_as_asked_at_40w_and_only_by_moving_best_effort_at_15w(
        tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    status = main(["plan", str(REPO / "pipelines" / "demo.yaml"), "--modes", "all",
                   "--duration", "5", "--json", str(out), "--cache-dir", str(tmp_path / "c")])
    assert status == 0
    modes = json.loads(out.read_text())["modes"]
    assert set(modes) == {"MAXN", "15W", "30W", "40W"}
    assert (modes["40W"]["fits"], modes["40W"]["fits_as_asked"]) == (True, True)
    assert (modes["15W"]["fits"], modes["15W"]["fits_as_asked"]) == (True, False)
    low = modes["15W"]["pipelines"]
    assert low["rear_detector"]["lane"] == "dla0" and "moved" in low["rear_detector"]["reason"]
    assert all(low[name]["reason"] is None for name in ("front_detector", "left_detector",
                                                        "right_detector"))
    for mode in modes.values():
        assert mode["pipelines"]["front_detector"]["deadline_misses"] == 0
        assert isinstance(mode["watts"], float) and mode["watts"] > 0
    assert modes["15W"]["watts"] < modes["40W"]["watts"]
