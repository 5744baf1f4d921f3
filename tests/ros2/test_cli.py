"""``edge-runtime ros2 pipelines/ros2_demo.yaml`` on a live graph: it configures and activates
itself, and another process subscribes to its outputs and /diagnostics with stock rclpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from vision_msgs.msg import Classification

from tests.ros2.graph import REPO, Graph

DEMO = REPO / "pipelines" / "ros2_demo.yaml"


def test_the_cli_starts_an_active_node_that_stock_rclpy_hears(
        graph: Graph, env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "cli.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "edge_runtime", "ros2", str(DEMO), "--ros-args",
             "-r", "__ns:=/cli"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        try:
            outputs = graph.collect(Classification, "/cli/part_classifier/classification")
            diagnostics = graph.collect(DiagnosticArray, "/diagnostics")
            outputs.wait_for(5, 90.0)
            diagnostics.wait_for(1, 30.0, where=lambda m: any(
                s.name == "edge_runtime: part_classifier" for s in m.status))
        finally:
            process.send_signal(2)
            code = process.wait(30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_mistake_in_the_set_is_one_line_and_exit_2(tmp_path: Path,
                                                      env: dict[str, str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  - name: x\n    rate_hzz: 3\n")
    done = subprocess.run([sys.executable, "-m", "edge_runtime", "ros2", str(bad)], env=env,
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{bad}:") and len(done.stderr.strip().splitlines()) == 1
