"""Offloading a pipeline to a real Triton Inference Server (PyTriton's tritonserver on free
ports on 127.0.0.1, serving the bundled detector with onnxruntime inside):

- a pipeline on the triton backend decodes exactly what the onnxruntime backend decodes from
  the same frames;
- the planner moves a non-critical pipeline to its triton variant when the module's lanes do
  not fit a power mode, and never a critical one unless its config says so;
- a server killed mid-run: the pipeline falls back to its local variant, with the reason in
  ``status()``, while the other pipelines keep their rate; and it comes back when the server
  does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_runtime.errors import UserError
from edge_runtime.pipelines.output import Output
from edge_runtime.pipelines.postprocess import Detections
from edge_runtime.triton.launch import TritonModelSpec, TritonServer, free_port
from tests.conftest import REPO
from tests.runtime.conftest import MakeRuntime

DETECTOR = REPO / "engines" / "models" / "shapes_detector.onnx"
EVALUATION = """
evaluation:
  data:
    source: {type: synthetic_camera, width: 320, height: 240, scene: multi, seed: 7102}
    preprocess: {resize: [120, 160]}
    postprocess: {type: detection, conf_threshold: 0.25, iou_threshold: 0.45}
  frames: 20
"""


@pytest.fixture(scope="module")
def server() -> Iterator[TritonServer]:
    with TritonServer([TritonModelSpec(name="detector", onnx=DETECTOR, max_batch_size=4,
                                       max_queue_delay_us=500)]) as running:
        yield running


def write_recipes(tmp_path: Path, url: str) -> None:
    shape = "inputs:\n  image: {shape: [1, 3, 120, 160]}\n"
    (tmp_path / "local.yaml").write_text(
        f"onnx: {DETECTOR}\nprecision: fp16\n{shape}mock: {{price_as: retinanet_resnet34}}\n")
    (tmp_path / "light.yaml").write_text(
        f"onnx: {DETECTOR}\nprecision: fp16\n{shape}mock: {{price_as: ssd_mobilenet_v1}}\n")
    (tmp_path / "remote.yaml").write_text(
        f"onnx: {DETECTOR}\nprecision: fp32\nbackend: triton\n"
        f"triton: {{url: '{url}', model: detector, timeout_ms: 500}}\n{shape}")


def camera(name: str, seed: int, fps: int, engine: str, priority: str = "normal",
           variants: str = "", extra: str = "") -> str:
    return f"""
  - name: {name}
    source: {{type: synthetic_camera, width: 320, height: 240, fps: {fps}, scene: multi,
             seed: {seed}}}
    preprocess: {{resize: [120, 160]}}
    engine: {{recipe: {engine}, mock_outputs: onnxruntime}}
    {variants}
    postprocess: {{type: detection, conf_threshold: 0.25, iou_threshold: 0.45}}
    rate_hz: {fps}
    priority: {priority}
    {extra}
"""


def write_set(tmp_path: Path, *pipelines: str, mode: str = "30W") -> Path:
    path = tmp_path / "set.yaml"
    path.write_text(f"device: jetson-agx-orin-32gb\npower_mode: {mode}\npipelines:"
                    + "".join(pipelines))
    return path


def collect(runtime: object, into: dict[int, Detections]) -> None:
    def keep(output: Output) -> None:
        assert isinstance(output.result, Detections)
        into[output.frame_index] = output.result

    runtime.subscribe(keep)  # type: ignore[attr-defined]


def test_triton_decodes_what_onnxruntime_decodes(server: TritonServer, tmp_path: Path,
                                                 make_runtime: MakeRuntime) -> None:
    write_recipes(tmp_path, server.url)
    results: dict[str, dict[int, Detections]] = {}
    for engine in ("remote.yaml", "local.yaml"):
        path = write_set(tmp_path, camera("cam", 41, 10, engine))
        runtime = make_runtime(path, backend="onnxruntime")
        results[engine] = {}
        collect(runtime, results[engine])
        runtime.configure()
        runtime.activate()
        runtime.run_for(3.0)
        runtime.deactivate()
        runtime.shutdown()
    remote, local = results["remote.yaml"], results["local.yaml"]
    assert len(remote) == len(local) == 30
    assert sum(len(d.boxes) for d in local.values()) > 30  # the frames have shapes to find
    for index, mine in remote.items():
        assert mine.to_record() == local[index].to_record(), index


def test_the_planner_offloads_a_normal_pipeline_not_a_critical_one(
        server: TritonServer, tmp_path: Path, make_runtime: MakeRuntime) -> None:
    write_recipes(tmp_path, server.url)
    variants = "variants: [remote.yaml]"
    path = write_set(tmp_path, camera("front", 1, 30, "light.yaml", "critical"),
                     camera("rear", 2, 10, "local.yaml", "normal", variants), mode="15W")
    runtime = make_runtime(path)
    runtime.configure()
    plan = runtime.plan("15W")
    assert plan.grants["front"].lane == "gpu"
    rear = plan.grants["rear"]
    assert (rear.variant, rear.lane) == ("remote", f"triton@{server.url}")
    assert rear.rate_hz == 10 and not rear.paused
    assert runtime.plan("MAXN").grants["rear"].variant == "local"  # it fits at home there
    runtime.shutdown()

    critical = write_set(tmp_path, camera("front", 1, 30, "light.yaml", "critical", variants))
    with pytest.raises(UserError, match=r"critical_offload: true") as caught:
        make_runtime(critical).configure()
    assert "variants" in str(caught.value)
    allowed = write_set(tmp_path, camera("front", 1, 30, "light.yaml", "critical", variants,
                                         "critical_offload: true"))
    runtime = make_runtime(allowed)
    runtime.configure()
    assert set(runtime.pipelines["front"].variants) == {"light", "remote"}


def test_a_server_that_is_down_at_start_leaves_its_variant_out(
        tmp_path: Path, make_runtime: MakeRuntime) -> None:
    write_recipes(tmp_path, f"127.0.0.1:{free_port()}")
    path = write_set(tmp_path, camera("rear", 2, 10, "remote.yaml", variants="variants: "
                                                                        "[local.yaml]"))
    runtime = make_runtime(path)
    runtime.configure()
    assert list(runtime.pipelines["rear"].variants) == ["local"]
    notes = [n for e in runtime.engines for n in e.notes]
    assert any("engine remote left out" in n and "unreachable" in n for n in notes)
    runtime.shutdown()
    alone = write_set(tmp_path, camera("rear", 2, 10, "remote.yaml"))
    with pytest.raises(UserError, match="no engine of pipeline 'rear' can run"):
        make_runtime(alone).configure()


def test_a_server_killed_mid_run_falls_back_and_comes_back(tmp_path: Path,
                                                           make_runtime: MakeRuntime) -> None:
    """Wall clock: the rear camera runs offloaded, the server is killed 2 s in. Its frames go
    to the local variant with the reason in status(); the front camera never notices; a new
    server on the same port brings the rear camera back to it."""
    port = free_port()
    model = TritonModelSpec(name="detector", onnx=DETECTOR, max_batch_size=4,
                            max_queue_delay_us=500)
    first = TritonServer([model], grpc_port=port)
    first.start()
    write_recipes(tmp_path, first.url)
    path = write_set(tmp_path, camera("front", 1, 10, "local.yaml", "critical"),
                     camera("rear", 2, 10, "remote.yaml", variants="variants: [local.yaml]"))
    runtime = make_runtime(path, clock="wall", backend="onnxruntime")
    rear_frames: list[tuple[float, int]] = []
    lock = threading.Lock()

    def keep(output: Output) -> None:
        with lock:
            rear_frames.append((time.monotonic(), output.frame_index))

    runtime.subscribe(keep, ["rear"])
    runtime.configure()
    runtime.activate()
    second: TritonServer | None = None
    try:
        time.sleep(2.0)
        assert runtime.status().pipelines["rear"].variant == "remote"
        first.kill()
        killed_at = time.monotonic()
        deadline = killed_at + 10
        while runtime.status().pipelines["rear"].variant != "local":
            assert time.monotonic() < deadline, "the rear camera never fell back"
            time.sleep(0.05)
        status = runtime.status().pipelines["rear"]
        assert status.lane == "cpu" and "unreachable" in (status.reason or "")
        time.sleep(2.0)
        with lock:
            after = [t for t, _ in rear_frames if t > killed_at + 1.0]
        assert len(after) >= 8  # ~10 Hz on the local variant
        second = TritonServer([model], grpc_port=port)
        second.start()
        deadline = time.monotonic() + 20
        while runtime.status().pipelines["rear"].variant != "remote":
            assert time.monotonic() < deadline, "the rear camera never went back"
            time.sleep(0.1)
        assert runtime.status().pipelines["rear"].reason is None
        front = runtime.status().pipelines["front"]
    finally:
        summary = runtime.deactivate().to_dict()
        runtime.shutdown()
        first.stop()
        if second is not None:
            second.stop()
    row = summary["pipelines"]["front"]["30W"]
    assert front.deadline_misses == 0 and row["deadline_misses"] == 0
    assert row["hz"] >= 9.0 and front.errors == {}
