"""The ROS-free half of the ROS 2 shell: names, values and messages, without rclpy.

Everything the node decides about ROS (which topics a pipeline has, what a parameter value
means, how a health report becomes a ``diagnostic_msgs/DiagnosticStatus``, what the reload
service answers) is a function here, taking message classes as arguments where it builds
messages, so the main test suite checks it without ROS installed and the node stays a thin
wiring of rclpy callbacks to :class:`~edge_runtime.Runtime` calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.config.pipeline import PipelineConfig
from edge_runtime.config.stages import ExternalSourceConfig
from edge_runtime.runtime.health import HealthReport
from edge_runtime.runtime.runtime import ReloadReport

#: The node's name unless remapped (``__node:=``); also the diagnostics prefix.
NODE_NAME = "edge_runtime"
#: Topic suffix per postprocess type (``P/detections``...); no postprocess: nothing published.
OUTPUT_TOPICS = {"detection": "detections", "classification": "classification",
                 "segmentation": "mask", "commands": "command"}
IMAGE_TOPIC = "image_raw"
#: A text pipeline's input: std_msgs/String transcripts (a speech recogniser's output).
TEXT_TOPIC = "text"
COMPRESSED_TOPIC = "image_raw/compressed"


def output_topic(pipeline: PipelineConfig) -> str | None:
    """The relative topic a pipeline's outputs are published on (None: raw tensors only)."""
    if pipeline.postprocess is None:
        return None
    return f"{pipeline.name}/{OUTPUT_TOPICS[pipeline.postprocess.type]}"


def takes_images(pipeline: PipelineConfig) -> bool:
    """Whether the node feeds this pipeline from its image topics (``type: ros2``, or
    ``external``: nothing but the node could push its frames)."""
    return isinstance(pipeline.source, ExternalSourceConfig) and not pipeline.is_text


def takes_texts(pipeline: PipelineConfig) -> bool:
    """Whether the node feeds this text pipeline from its ``P/text`` String topic."""
    return isinstance(pipeline.source, ExternalSourceConfig) and pipeline.is_text


def enabled_parameter(pipeline: str) -> str:
    return f"{pipeline}.enabled"


def rate_parameter(pipeline: str) -> str:
    return f"{pipeline}.rate_hz"


def rate_from_parameter(value: object) -> float | None:
    """``P.rate_hz``: a positive rate, or 0 for the pipeline's own (its source's, or pushed
    frames as they come). Raises ValueError with the reason."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"rate_hz must be a number, got {value!r}")
    if value < 0:
        raise ValueError(f"rate_hz must be positive (or 0 for the pipeline's own rate), "
                         f"got {value:g}")
    return float(value) if value > 0 else None


def rate_to_parameter(rate_hz: float | None) -> float:
    return 0.0 if rate_hz is None else float(rate_hz)


def reload_message(report: ReloadReport) -> str:
    """The ``~/reload`` answer on success: what changed, one line."""
    parts = [f"{label} {', '.join(names)}" for label, names in (
        ("added", report.added), ("changed", report.changed), ("removed", report.removed))
        if names]
    if not parts:
        return "reloaded: nothing changed"
    return "reloaded: " + "; ".join(parts)


@dataclass(frozen=True)
class DiagnosticTypes:
    """diagnostic_msgs classes (rclpy's, or any with the same fields)."""

    DiagnosticArray: type[Any]
    DiagnosticStatus: type[Any]
    KeyValue: type[Any]

    @classmethod
    def ros(cls) -> DiagnosticTypes:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        return cls(DiagnosticArray, DiagnosticStatus, KeyValue)


def diagnostic_status(types: DiagnosticTypes, report: HealthReport, node: str,
                      hardware_id: str) -> Any:
    """One report as a DiagnosticStatus named ``NODE: NAME`` (diagnostic_aggregator's
    analyzers match on that prefix)."""
    status = types.DiagnosticStatus()
    status.level = bytes([int(report.level)])
    status.name = f"{node}: {report.name}"
    status.message = report.message
    status.hardware_id = hardware_id
    status.values = [types.KeyValue(key=key, value=value)
                     for key, value in report.values.items()]
    return status


def diagnostic_array(types: DiagnosticTypes, reports: Sequence[HealthReport], node: str,
                     hardware_id: str, header: Any) -> Any:
    array = types.DiagnosticArray()
    array.header = header
    array.status = [diagnostic_status(types, report, node, hardware_id) for report in reports]
    return array


def ros_arguments(config: Path, *, autostart: bool, extra: Sequence[str]) -> list[str]:
    """The node's command line for ``edge-runtime ros2 CONFIG [--ros-args ...]``: the config
    and autostart as parameters first, so the user's own ``-p`` (after them) wins."""
    args = ["--ros-args", "-p", f"config:={config}",
            "-p", f"autostart:={'true' if autostart else 'false'}"]
    extra = list(extra)
    if extra[:1] == ["--ros-args"]:
        extra = extra[1:]
    return args + extra
