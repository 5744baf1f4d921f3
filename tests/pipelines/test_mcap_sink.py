"""The MCAP sink from `edge-runtime run`, read back with the mcap ROS 2 decoder and compared
field by field with the JSON-lines sink of the same run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from edge_runtime.cli.main import main
from edge_runtime.config.loading import load_pipeline_set
from edge_runtime.errors import UserError
from edge_runtime.pipelines.schemas import SEPARATOR, dependencies, schema_text

REPO = Path(__file__).resolve().parents[2]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class Decoded:
    schema: Any
    message: Any
    ros_msg: Any


def decoded(path: Path) -> dict[str, list[Decoded]]:
    """Every message, decoded by mcap_ros2 from the file's own schemas, by topic."""
    by_topic: dict[str, list[Decoded]] = {}
    with path.open("rb") as handle:
        reader = make_reader(handle, decoder_factories=[DecoderFactory()])
        for schema, channel, message, ros_msg in reader.iter_decoded_messages():
            by_topic.setdefault(channel.topic, []).append(Decoded(schema, message, ros_msg))
    return by_topic


def stamp(msg: Any) -> float:
    return float(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)


def test_run_records_ros2_messages_that_match_the_json_lines(
        write: Callable[[str, str], Path], tmp_path: Path) -> None:
    engines = REPO / "engines"
    path = write("set.yaml", f"""
        device: jetson-agx-orin-32gb
        pipelines:
          - name: front
            source: {{type: synthetic_camera, width: 320, height: 240, fps: 10, seed: 5}}
            preprocess: {{resize: [120, 160]}}
            engine: {{recipe: {engines}/detector.yaml, mock_outputs: onnxruntime}}
            postprocess: {{type: detection}}
            sinks:
              - {{type: mcap, path: {tmp_path}/front.mcap}}
              - {{type: jsonl, path: {tmp_path}/front.jsonl}}
          - name: parts
            source: {{type: synthetic_camera, width: 128, height: 128, fps: 10, scene: single}}
            preprocess: {{resize: [64, 64]}}
            engine: {{recipe: {engines}/classifier.yaml, mock_outputs: onnxruntime}}
            postprocess: {{type: classification, top_k: 2}}
            sinks:
              - {{type: mcap, path: {tmp_path}/parts.mcap}}
              - {{type: jsonl, path: {tmp_path}/parts.jsonl}}
    """)
    assert main(["run", str(path), "--clock", "sim", "--duration", "2", "--cache-dir",
                 str(tmp_path / "cache")]) == 0
    assert not list(tmp_path.glob("*.part"))

    front = decoded(tmp_path / "front.mcap")
    assert set(front) == {"/front/detections"}
    expected = records(tmp_path / "front.jsonl")
    got = front["/front/detections"]
    assert len(got) == len(expected) == 20
    for message, record in zip(got, expected, strict=True):
        assert message.schema.name == "vision_msgs/msg/Detection2DArray"
        assert message.message.sequence == record["frame"]
        msg, outputs = message.ros_msg, record["outputs"]
        assert message.message.channel_id == got[0].message.channel_id
        assert message.message.log_time == message.message.publish_time > 0
        assert stamp(msg) == pytest.approx(record["capture_ts"], abs=1e-6)
        assert msg.header.frame_id == record.get("frame_id", "")
        assert all(d.header == msg.header for d in msg.detections)
        assert len(msg.detections) == len(outputs["boxes"])
        for detection, box, score, label in zip(msg.detections, outputs["boxes"],
                                                outputs["scores"], outputs["labels"],
                                                strict=True):
            x1, y1, x2, y2 = box
            assert detection.bbox.center.position.x == pytest.approx((x1 + x2) / 2, abs=0.01)
            assert detection.bbox.center.position.y == pytest.approx((y1 + y2) / 2, abs=0.01)
            assert detection.bbox.size_x == pytest.approx(x2 - x1, abs=0.01)
            assert detection.bbox.size_y == pytest.approx(y2 - y1, abs=0.01)
            (hypothesis,) = detection.results
            assert hypothesis.hypothesis.class_id == label
            assert hypothesis.hypothesis.score == pytest.approx(score, abs=1e-5)
            assert hypothesis.pose.pose.orientation.w == 1.0  # the .msg default, as rclpy
    assert sum(len(m.ros_msg.detections) for m in got) > 0
    log_times = [m.message.log_time for m in got]
    assert log_times == sorted(log_times)

    parts = decoded(tmp_path / "parts.mcap")["/parts/classification"]
    expected = records(tmp_path / "parts.jsonl")
    assert len(parts) == len(expected) == 20
    for message, record in zip(parts, expected, strict=True):
        assert message.schema.name == "vision_msgs/msg/Classification"
        assert message.schema.encoding == "ros2msg"
        assert message.message.sequence == record["frame"]
        assert stamp(message.ros_msg) == pytest.approx(record["capture_ts"], abs=1e-6)
        assert [r.class_id for r in message.ros_msg.results] == record["outputs"]["labels"]
        assert [r.score for r in message.ros_msg.results] == pytest.approx(
            record["outputs"]["scores"], abs=1e-5)


def test_two_pipelines_recording_to_one_file_is_one_line(
        write: Callable[[str, str], Path], tmp_path: Path) -> None:
    pipeline = """
          - name: {name}
            source: {{type: synthetic_camera}}
            engine: {recipe}
            sinks: [{{type: mcap, path: same.mcap}}]"""
    recipe = REPO / "engines" / "classifier.yaml"
    path = write("set.yaml", "pipelines:" + pipeline.format(name="a", recipe=recipe)
                 + pipeline.format(name="b", recipe=recipe) + "\n")
    with pytest.raises(UserError, match="both record to") as caught:
        load_pipeline_set(path)
    assert str(caught.value).startswith(f"{path}:")


def test_the_schema_carries_every_dependency_once() -> None:
    text = schema_text("vision_msgs/msg/Detection2DArray")
    names = [line.removeprefix("MSG: ") for line in text.splitlines() if line.startswith("MSG:")]
    assert len(names) == len(set(names))
    assert {"std_msgs/Header", "builtin_interfaces/Time", "vision_msgs/Detection2D",
            "vision_msgs/BoundingBox2D", "vision_msgs/Pose2D", "vision_msgs/Point2D",
            "geometry_msgs/PoseWithCovariance", "geometry_msgs/Quaternion"} <= set(names)
    assert text.count(SEPARATOR) == len(names)
    assert dependencies("sensor_msgs/Image") == ["std_msgs/Header"]
    with pytest.raises(KeyError, match="no message definition"):
        schema_text("nav_msgs/msg/Odometry")
