"""The runtime node on a live ROS 2 graph: a separate process, driven over FastDDS from this
one with stock rclpy (lifecycle services, images in, vision_msgs out, parameters, diagnostics,
reload). Runs in the ROS 2 venv (``make ros2-unit``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
from vision_msgs.msg import Classification, Detection2DArray

from edge_runtime.pipelines.messages import detections_from_message
from edge_runtime.pipelines.scoring import MeanAveragePrecision
from edge_runtime.synthetic.commands import CommandGenerator
from edge_runtime.synthetic.scenes import SHAPE_CLASSES
from tests.ros2 import frames
from tests.ros2.graph import REPO, Graph, NodeProcess, running

DEMO = REPO / "pipelines" / "ros2_demo.yaml"
METRICS = json.loads((REPO / "engines" / "models" / "metrics.json").read_text())
#: Frames published in the detection test, at this rate (the detector keeps up on 2 cores).
FRAMES, PUBLISH_HZ = 40, 10.0
WAIT_S = 60.0


# --- helpers ---------------------------------------------------------------------------------

def transition(graph: Graph, transition_id: int, node: str = "/edge_runtime") -> bool:
    request = ChangeState.Request(transition=Transition(id=transition_id))
    return bool(graph.call(ChangeState, f"{node}/change_state", request).success)


def state(graph: Graph, node: str = "/edge_runtime") -> str:
    return str(graph.call(GetState, f"{node}/get_state", GetState.Request()).current_state.label)


def set_parameter(graph: Graph, name: str, value: Any, node: str = "/edge_runtime") -> Any:
    if isinstance(value, str):
        param_value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    elif isinstance(value, bool):
        param_value = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    else:
        param_value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                     double_value=float(value))
    request = SetParameters.Request(parameters=[Parameter(name=name, value=param_value)])
    return graph.call(SetParameters, f"{node}/set_parameters", request).results[0]


def get_parameter(graph: Graph, name: str, node: str = "/edge_runtime") -> Any:
    response = graph.call(GetParameters, f"{node}/get_parameters",
                          GetParameters.Request(names=[name]))
    value = response.values[0]
    return {ParameterType.PARAMETER_STRING: value.string_value,
            ParameterType.PARAMETER_BOOL: value.bool_value,
            ParameterType.PARAMETER_DOUBLE: value.double_value,
            ParameterType.PARAMETER_INTEGER: value.integer_value}.get(value.type)


def statuses(array: DiagnosticArray) -> dict[str, DiagnosticStatus]:
    return {status.name: status for status in array.status}


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {pair.key: pair.value for pair in status.values}


def wait_for_diagnostics(graph: Graph, collector: Any, predicate: Any,
                         timeout: float = WAIT_S) -> dict[str, DiagnosticStatus]:
    found = collector.wait_for(1, timeout, where=lambda m: predicate(statuses(m)))
    return statuses(found[-1])


def stamp_key(msg: Any) -> tuple[int, int]:
    return (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))


def publish_paced(publisher: Any, messages: list[Any], hz: float = PUBLISH_HZ) -> None:
    for msg in messages:
        publisher.publish(msg)
        time.sleep(1.0 / hz)


# --- one node, configured and activated through the lifecycle services ------------------------

@pytest.fixture(scope="module")
def node(graph: Graph, env: dict[str, str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess({"config": str(DEMO), "power_mode": "30W"}, env,
                          tmp_path_factory.mktemp("node"))
    with running(process):
        assert state(graph) == "unconfigured"
        assert transition(graph, Transition.TRANSITION_CONFIGURE), process.log()
        assert state(graph) == "inactive"
        assert transition(graph, Transition.TRANSITION_ACTIVATE), process.log()
        assert state(graph) == "active"
        yield process


@pytest.fixture(scope="module")
def detections(graph: Graph, node: NodeProcess) -> dict[tuple[int, int], Detection2DArray]:
    """Detections of FRAMES rgb8 frames published on front_detector/image_raw, by stamp."""
    del node
    collector = graph.collect(Detection2DArray, "/front_detector/detections")
    publisher = graph.node.create_publisher(Image, "/front_detector/image_raw",
                                            qos_profile_sensor_data)
    graph.wait_for_subscribers(publisher)
    publish_paced(publisher, [frames.image(scene.image, i)
                              for i, scene in enumerate(frames.scenes(7102, FRAMES))])
    collector.wait_for(int(FRAMES * 0.8), WAIT_S)
    time.sleep(1.0)
    return {stamp_key(msg): msg for msg in collector.messages}


def test_detections_carry_the_input_stamp_and_match_the_ground_truth(
        detections: dict[tuple[int, int], Detection2DArray]) -> None:
    published = {stamp_key(frames.image(frames.scenes(7102, 1)[0].image, i)): i
                 for i in range(FRAMES)}
    assert set(detections) <= set(published), "an output stamp no input had"
    assert len(detections) >= FRAMES * 0.8
    truth = frames.scenes(7102, FRAMES)
    score = MeanAveragePrecision()
    for key, msg in detections.items():
        assert msg.header.frame_id == frames.FRAME_ID
        for detection in msg.detections:
            assert detection.header.stamp == msg.header.stamp
            assert 0 <= detection.bbox.center.position.x <= frames.WIDTH
            assert 0 <= detection.bbox.center.position.y <= frames.HEIGHT
        result = detections_from_message(msg, SHAPE_CLASSES, (frames.HEIGHT, frames.WIDTH))
        score.add(result, truth[published[key]].objects)
    model = METRICS["shapes_detector"]["value"]
    assert score.value is not None
    assert abs(score.value - model) <= 0.05, f"mAP {score.value:.3f} vs model {model:.3f}"


def _same(a: Detection2DArray, b: Detection2DArray) -> None:
    assert len(a.detections) == len(b.detections)
    for x, y in zip(a.detections, b.detections, strict=True):
        assert x.results[0].hypothesis.class_id == y.results[0].hypothesis.class_id
        assert x.bbox.center.position.x == pytest.approx(y.bbox.center.position.x, abs=0.5)
        assert x.bbox.size_x == pytest.approx(y.bbox.size_x, abs=0.5)


@pytest.mark.parametrize("encoding", ["bgr8", "png"])
def test_bgr8_and_compressed_inputs_give_the_same_detections(
        graph: Graph, detections: dict[tuple[int, int], Detection2DArray],
        encoding: str) -> None:
    scenes = frames.scenes(7102, 6)
    offset = 1000 if encoding == "bgr8" else 2000
    reference = {i: detections.get(stamp_key(frames.image(scenes[i].image, i)))
                 for i in range(len(scenes))}
    collector = graph.collect(Detection2DArray, "/front_detector/detections")
    if encoding == "bgr8":
        topic, kind = "/front_detector/image_raw", Image
        messages: list[Any] = [frames.image(s.image, offset + i, "bgr8", pad=8)
                               for i, s in enumerate(scenes)]
    else:
        topic, kind = "/front_detector/image_raw/compressed", CompressedImage
        messages = [frames.compressed(s.image, offset + i) for i, s in enumerate(scenes)]
    publisher = graph.node.create_publisher(kind, topic, qos_profile_sensor_data)
    graph.wait_for_subscribers(publisher)
    publish_paced(publisher, messages)
    ours = collector.wait_for(len(scenes) - 2, WAIT_S,
                              where=lambda m: m.header.stamp.sec >= frames.stamp(offset).sec)
    compared = 0
    for msg in ours:
        index = msg.header.stamp.sec - frames.stamp(offset).sec
        if 0 <= index < len(scenes) and reference[index] is not None:
            _same(msg, reference[index])
            compared += 1
    assert compared >= 2


def test_an_unsupported_encoding_is_rejected_and_reported_without_a_crash(
        graph: Graph, node: NodeProcess) -> None:
    diagnostics = graph.collect(DiagnosticArray, "/diagnostics")
    publisher = graph.node.create_publisher(Image, "/front_detector/image_raw",
                                            qos_profile_sensor_data)
    graph.wait_for_subscribers(publisher)
    publish_paced(publisher, [frames.depth_image(3000 + i) for i in range(3)])
    found = wait_for_diagnostics(graph, diagnostics, lambda s: int(values(
        s["edge_runtime: front_detector"]).get("rejected_inputs", "0")) >= 1)
    front = found["edge_runtime: front_detector"]
    assert front.level == DiagnosticStatus.WARN
    assert "rejected" in front.message
    assert node.process.poll() is None
    assert "16UC1" in node.log()
    # ... and the node still serves frames
    collector = graph.collect(Detection2DArray, "/front_detector/detections")
    publish_paced(publisher, [frames.image(frames.scenes(7102, 1)[0].image, 4000)])
    collector.wait_for(1, WAIT_S, where=lambda m: m.header.stamp.sec == frames.stamp(4000).sec)


def test_diagnostics_carry_one_status_per_pipeline_and_the_power_mode(
        graph: Graph, node: NodeProcess) -> None:
    del node
    collector = graph.collect(DiagnosticArray, "/diagnostics")
    found = wait_for_diagnostics(graph, collector, lambda s: float(values(
        s.get("edge_runtime: part_classifier", DiagnosticStatus())).get("hz", "0")) > 5)
    assert {"edge_runtime: front_detector", "edge_runtime: part_classifier",
            "edge_runtime: power"} <= set(found)
    classifier = values(found["edge_runtime: part_classifier"])
    assert classifier["target_hz"] == "15"
    assert float(classifier["p99_ms"]) > 0
    assert found["edge_runtime: part_classifier"].hardware_id
    assert "gpu_utilisation" in values(found["edge_runtime: power"])


def test_classifier_on_its_own_camera_publishes_classifications(
        graph: Graph, node: NodeProcess) -> None:
    del node
    collector = graph.collect(Classification, "/part_classifier/classification")
    received = collector.wait_for(10, WAIT_S)
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in received]
    assert stamps == sorted(stamps)
    assert all(m.results and m.results[0].class_id in SHAPE_CLASSES
               for m in received)


def test_transcripts_on_text_come_back_as_json_commands(graph: Graph,
                                                        node: NodeProcess) -> None:
    del node
    commands = CommandGenerator(7301).commands(20)
    collector = graph.collect(String, "/commands/command")
    publisher = graph.node.create_publisher(String, "/commands/text", 10)
    graph.wait_for_subscribers(publisher)
    publish_paced(publisher, [String(data=c.text) for c in commands], hz=20.0)
    received = collector.wait_for(20, WAIT_S)
    decoded = [json.loads(m.data) for m in received]
    by_words = {tuple(c.words): c for c in commands}
    assert len(decoded) == 20  # reliable and queued: no command lost
    assert {"stamp", "intent", "slots", "tags", "latency_ms"} <= set(decoded[0])
    right = sum(d["intent"] == by_words[tuple(d["words"])].intent for d in decoded)
    assert right >= 19


def test_power_mode_is_set_at_run_time_and_an_unknown_mode_is_rejected(
        graph: Graph, node: NodeProcess) -> None:
    del node
    assert get_parameter(graph, "power_mode") == "30W"
    collector = graph.collect(DiagnosticArray, "/diagnostics")
    assert set_parameter(graph, "power_mode", "15W").successful
    found = wait_for_diagnostics(graph, collector, lambda s: values(
        s["edge_runtime: power"])["power_mode"] == "15W")
    assert found["edge_runtime: power"].message == "mode 15W"
    refused = set_parameter(graph, "power_mode", "bogus")
    assert not refused.successful
    assert "bogus" in refused.reason and "15W" in refused.reason
    assert get_parameter(graph, "power_mode") == "15W"
    assert not set_parameter(graph, "config", "/elsewhere.yaml").successful


def test_a_pipeline_is_disabled_and_its_rate_changed_by_parameters(
        graph: Graph, node: NodeProcess) -> None:
    del node
    assert set_parameter(graph, "part_classifier.rate_hz", 5).successful
    assert not set_parameter(graph, "part_classifier.rate_hz", -1).successful
    collector = graph.collect(DiagnosticArray, "/diagnostics")
    wait_for_diagnostics(graph, collector, lambda s: values(
        s["edge_runtime: part_classifier"])["target_hz"] == "5")
    assert set_parameter(graph, "part_classifier.enabled", False).successful
    found = wait_for_diagnostics(graph, collector, lambda s: values(
        s["edge_runtime: part_classifier"])["state"] == "disabled")
    assert found["edge_runtime: part_classifier"].message == "disabled"
    assert set_parameter(graph, "part_classifier.enabled", True).successful


# --- the whole lifecycle, a failed configure, reload, namespace and remaps -----------------

def pipeline_set(path: Path, classifier_rate: float, broken: bool = False) -> Path:
    text = DEMO.read_text().replace("../engines/", f"{REPO / 'engines'}/")
    text = text.replace("rate_hz: 15", f"rate_hz: {classifier_rate:g}")
    if broken:
        text = text.replace("priority: high", "priority: urgent")
    path.write_text(text)
    return path


def test_every_transition_and_a_failed_configure(graph: Graph, env: dict[str, str],
                                                 tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  - name: x\n    rate_hzz: 3\n")
    process = NodeProcess({"config": str(bad)}, env, tmp_path, namespace="/lc")
    node = "/lc/edge_runtime"
    with running(process):
        assert state(graph, node) == "unconfigured"
        assert not transition(graph, Transition.TRANSITION_CONFIGURE, node)
        assert state(graph, node) == "unconfigured"
        assert f"{bad}:" in process.log()
        assert "Traceback" not in process.log()
        assert set_parameter(graph, "config", str(DEMO), node).successful
        for step, expected in ((Transition.TRANSITION_CONFIGURE, "inactive"),
                               (Transition.TRANSITION_ACTIVATE, "active"),
                               (Transition.TRANSITION_DEACTIVATE, "inactive"),
                               (Transition.TRANSITION_CLEANUP, "unconfigured"),
                               (Transition.TRANSITION_CONFIGURE, "inactive"),
                               (Transition.TRANSITION_INACTIVE_SHUTDOWN, "finalized")):
            assert transition(graph, step, node), process.log()
            assert state(graph, node) == expected
    assert process.process.returncode == 0, process.log()


def test_reload_applies_an_edited_config_in_a_namespace_with_remaps(
        graph: Graph, env: dict[str, str], tmp_path: Path) -> None:
    config = pipeline_set(tmp_path / "set.yaml", classifier_rate=15)
    process = NodeProcess(
        {"config": str(config), "autostart": True}, env, tmp_path, namespace="/robot",
        extra=["-r", "front_detector/image_raw:=/camera/image_raw"])
    with running(process):
        collector = graph.collect(Detection2DArray, "/robot/front_detector/detections")
        publisher = graph.node.create_publisher(Image, "/camera/image_raw",
                                                qos_profile_sensor_data)
        graph.wait_for_subscribers(publisher)
        assert state(graph, "/robot/edge_runtime") == "active"
        publish_paced(publisher, [frames.image(s.image, i)
                                  for i, s in enumerate(frames.scenes(7102, 4))])
        collector.wait_for(2, WAIT_S)

        pipeline_set(config, classifier_rate=5)
        answer = graph.call(Trigger, "/robot/edge_runtime/reload", Trigger.Request())
        assert answer.success, answer.message
        assert answer.message == "reloaded: changed part_classifier"
        assert get_parameter(graph, "part_classifier.rate_hz", "/robot/edge_runtime") == 5.0
        diagnostics = graph.collect(DiagnosticArray, "/diagnostics")
        wait_for_diagnostics(graph, diagnostics, lambda s: values(
            s["edge_runtime: part_classifier"])["target_hz"] == "5")

        pipeline_set(config, classifier_rate=5, broken=True)
        answer = graph.call(Trigger, "/robot/edge_runtime/reload", Trigger.Request())
        assert not answer.success
        assert answer.message.startswith(f"{config}:") and "priority" in answer.message
        assert "\n" not in answer.message
        assert state(graph, "/robot/edge_runtime") == "active"
