"""Plain Python classes with the fields of the ROS 2 messages the runtime writes, for the MCAP
writer on a machine without ROS (``mcap_ros2`` serialises any object with the schema's
attribute names). Field names, types and defaults follow the ``.msg`` definitions in
``edge_runtime/pipelines/msg/``; the ROS 2 node uses rclpy's generated classes instead."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_runtime.pipelines.messages import MessageTypes


@dataclass
class Time:
    sec: int = 0
    nanosec: int = 0


@dataclass
class Header:
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class Image:
    header: Header = field(default_factory=Header)
    height: int = 0
    width: int = 0
    encoding: str = ""
    is_bigendian: int = 0
    step: int = 0
    data: bytes = b""


@dataclass
class CompressedImage:
    header: Header = field(default_factory=Header)
    format: str = ""
    data: bytes = b""


@dataclass
class Point2D:
    x: float = 0.0
    y: float = 0.0


@dataclass
class Pose2D:
    position: Point2D = field(default_factory=Point2D)
    theta: float = 0.0


@dataclass
class BoundingBox2D:
    center: Pose2D = field(default_factory=Pose2D)
    size_x: float = 0.0
    size_y: float = 0.0


@dataclass
class ObjectHypothesis:
    class_id: str = ""
    score: float = 0.0


@dataclass
class Point:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass
class Quaternion:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    w: float = 1.0


@dataclass
class Pose:
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


@dataclass
class PoseWithCovariance:
    pose: Pose = field(default_factory=Pose)
    covariance: list[float] = field(default_factory=lambda: [0.0] * 36)


@dataclass
class ObjectHypothesisWithPose:
    """``pose`` keeps its defaults (identity, zero covariance): the runtime's detections are
    2-D, so the conversions never set it."""

    hypothesis: ObjectHypothesis = field(default_factory=ObjectHypothesis)
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)


@dataclass
class Detection2D:
    header: Header = field(default_factory=Header)
    results: list[ObjectHypothesisWithPose] = field(default_factory=list)
    bbox: BoundingBox2D = field(default_factory=BoundingBox2D)
    id: str = ""


@dataclass
class Detection2DArray:
    header: Header = field(default_factory=Header)
    detections: list[Detection2D] = field(default_factory=list)


@dataclass
class Classification:
    header: Header = field(default_factory=Header)
    results: list[ObjectHypothesis] = field(default_factory=list)


@dataclass
class String:
    data: str = ""


def plain_types() -> MessageTypes:
    return MessageTypes(Time, Header, Image, CompressedImage, Detection2DArray, Detection2D,
                        BoundingBox2D, Pose2D, Point2D, ObjectHypothesisWithPose,
                        ObjectHypothesis, Classification, String)
