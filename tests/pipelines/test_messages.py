"""Outputs to ROS 2 messages and back, through the plain message classes (no ROS needed here;
tests/ros2 runs the same conversions on rclpy's generated classes)."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage

from edge_runtime.pipelines import messages, ros_types
from edge_runtime.pipelines.messages import UnsupportedImageError
from edge_runtime.pipelines.output import Output, RawTensors
from edge_runtime.pipelines.postprocess import Classification, Detections, SegmentationMap
from edge_runtime.pipelines.ros_types import CompressedImage, Image, plain_types
from edge_runtime.pipelines.schemas import definition

PACKAGE_MSG = Path(messages.__file__).parent / "msg"

TYPES = plain_types()
LABELS = ("circle", "square", "triangle")


def output(result: object, stamp: float | None = 1_764_633_600.25) -> Output:
    return Output("front", 7, stamp, "cam", 1.5, 1.52, False, "30W", result)  # type: ignore[arg-type]


def detections() -> Detections:
    return Detections(np.array([[10, 20, 50, 80], [100, 10, 140, 30]], np.float32),
                      np.array([0.9, 0.4], np.float32), np.array([2, 0], np.int64),
                      ("triangle", "circle"), (240, 320))


def test_detections_become_a_detection2darray_in_input_pixels_and_come_back() -> None:
    ((topic, msg),) = messages.output_messages(TYPES, output(detections()))
    assert topic == "detections"
    assert msg.header.frame_id == "cam"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_764_633_600, 250_000_000)
    first = msg.detections[0]
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (30.0, 50.0)
    assert (first.bbox.size_x, first.bbox.size_y) == (40.0, 60.0)
    assert first.results[0].hypothesis.class_id == "triangle"
    assert first.results[0].hypothesis.score == pytest.approx(0.9)
    back = messages.detections_from_message(msg, LABELS, (240, 320))
    np.testing.assert_allclose(back.boxes, detections().boxes)
    assert back.class_ids.tolist() == [2, 0] and back.labels == ("triangle", "circle")


def test_classes_without_labels_travel_as_their_index() -> None:
    result = Classification((4, 1), (0.7, 0.2), ())
    ((topic, msg),) = messages.output_messages(TYPES, output(result))
    assert topic == "classification"
    assert [r.class_id for r in msg.results] == ["4", "1"]
    back = messages.classification_from_message(msg, ())
    assert back.class_ids == (4, 1) and back.scores == pytest.approx((0.7, 0.2))
    with pytest.raises(ValueError, match="neither a label nor an index"):
        messages.classification_from_message(
            TYPES.Classification(results=[TYPES.ObjectHypothesis(class_id="dog")]), LABELS)


def test_a_mask_is_mono8_and_raw_tensors_publish_nothing() -> None:
    mask = np.array([[0, 1, 2], [300, 1, 0]], np.int64)
    ((topic, msg),) = messages.output_messages(TYPES, output(SegmentationMap(mask, LABELS)))
    assert topic == "mask" and msg.encoding == "mono8" and (msg.height, msg.width) == (2, 3)
    assert messages.mask_from_message(msg).tolist() == [[0, 1, 2], [255, 1, 0]]
    assert messages.output_messages(TYPES, output(RawTensors({}))) == []


def test_an_output_without_a_host_stamp_carries_its_capture_time() -> None:
    ((_, msg),) = messages.output_messages(TYPES, output(detections(), stamp=None))
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1, 500_000_000)


@given(st.floats(min_value=-(2.0**31), max_value=2.0**31 - 1, allow_nan=False))
def test_stamps_round_to_the_nearest_nanosecond_without_overflow(seconds: float) -> None:
    time = messages.stamp_to_time(TYPES, seconds)
    assert 0 <= time.nanosec < 1_000_000_000
    assert messages.INT32_MIN <= time.sec <= messages.INT32_MAX
    assert isinstance(time.sec, int) and isinstance(time.nanosec, int)
    assert abs(messages.time_to_stamp(time) - seconds) <= 1e-9 + abs(seconds) * 1e-15


@pytest.mark.parametrize(("seconds", "expected"), [
    (1.9999999999, (2, 0)),  # rounds up to the next second, never nanosec == 1e9
    (1.0000000004, (1, 0)),
    (1.0000000006, (1, 1)),
    (0.0, (0, 0)),
    (-1.25, (-2, 750_000_000)),  # sec is the floor, nanosec stays positive (as rclpy)
    (-0.0000000001, (0, 0)),
    (1_764_633_600.123456789, (1_764_633_600, 123_456_717)),  # float64 has ~0.2 us here
    (2.0**31 - 1, (2**31 - 1, 0)),
])
def test_stamp_edges(seconds: float, expected: tuple[int, int]) -> None:
    time = messages.stamp_to_time(TYPES, seconds)
    assert (time.sec, time.nanosec) == expected


@pytest.mark.parametrize("seconds", [2.0**31, -(2.0**31) - 1, float("nan"), float("inf")])
def test_stamps_a_time_message_cannot_hold_are_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="stamp"):
        messages.stamp_to_time(TYPES, seconds)


def test_the_plain_classes_have_the_fields_of_the_msg_files_in_order() -> None:
    for name, cls in [*vars(TYPES).items(), ("Pose", ros_types.Pose),
                      ("PoseWithCovariance", ros_types.PoseWithCovariance),
                      ("Point", ros_types.Point), ("Quaternion", ros_types.Quaternion)]:
        package = next(p for p in ("builtin_interfaces", "std_msgs", "sensor_msgs",
                                   "geometry_msgs", "vision_msgs")
                       if (PACKAGE_MSG / p / f"{name}.msg").is_file())
        text = definition(f"{package}/{name}")
        declared = [line.split()[1] for line in (raw.split("#", 1)[0].strip()
                                                 for raw in text.splitlines())
                    if line and "=" not in line.split()[1:2][0]]
        assert [f.name for f in dataclasses.fields(cls)] == declared, name
    assert ros_types.Quaternion().w == 1.0  # the .msg default ("float64 w 1")
    assert ros_types.PoseWithCovariance().covariance == [0.0] * 36


def test_the_best_hypothesis_is_read_and_a_detection_without_one_is_refused() -> None:
    ((_, msg),) = messages.output_messages(TYPES, output(detections()))
    msg.detections[0].results.insert(0, TYPES.ObjectHypothesisWithPose(
        hypothesis=TYPES.ObjectHypothesis(class_id="square", score=0.1)))
    assert messages.detections_from_message(msg, LABELS).class_ids.tolist() == [2, 0]
    msg.detections[1].results = []
    with pytest.raises(ValueError, match="detection 1 has no hypothesis"):
        messages.detections_from_message(msg, LABELS)


def test_no_detections_is_an_empty_array_and_back() -> None:
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                       np.zeros(0, np.int64), (), (240, 320))
    ((_, msg),) = messages.output_messages(TYPES, output(empty))
    assert msg.detections == []
    back = messages.detections_from_message(msg, LABELS, (240, 320))
    assert back.boxes.shape == (0, 4) and back.scores.shape == (0,)


def frame() -> npt.NDArray[np.uint8]:
    return np.random.default_rng(3).integers(0, 256, (6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8"])
@pytest.mark.parametrize("pad", [0, 7])
def test_images_in_each_encoding_with_row_padding(encoding: str, pad: int) -> None:
    pixels = frame()
    msg = messages.image_message(TYPES, pixels, 0.0, "cam", encoding)
    if pad:
        rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)
        padded = np.concatenate([rows, np.full((msg.height, pad), 99, np.uint8)], axis=1)
        msg.step += pad
        msg.data = padded.tobytes()
    decoded = messages.image_from_message(msg)
    assert decoded.shape == (6, 5, 3) and decoded.dtype == np.uint8
    if encoding == "mono8":
        expected = pixels.mean(axis=2).round().astype(np.uint8)
        assert (decoded == expected[..., None]).all()
    else:
        assert (decoded == pixels).all()


def test_image_data_as_a_list_of_ints_also_works() -> None:
    msg = messages.image_message(TYPES, frame(), 0.0, "cam")
    msg.data = list(msg.data)
    assert (messages.image_from_message(msg) == frame()).all()


@pytest.mark.parametrize(("encoding", "words"), [("16UC1", "'16UC1' is not supported"),
                                                 ("rgba8", "rgb8, bgr8, mono8")])
def test_other_encodings_are_refused_with_the_reason(encoding: str, words: str) -> None:
    msg = Image(height=2, width=2, encoding=encoding, step=8, data=bytes(16))
    with pytest.raises(UnsupportedImageError, match=words):
        messages.image_from_message(msg)


def test_short_data_is_refused() -> None:
    msg = Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(20))
    with pytest.raises(UnsupportedImageError, match="20 bytes"):
        messages.image_from_message(msg)


def compressed(fmt: str, pixels: npt.NDArray[np.uint8]) -> CompressedImage:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format=fmt.upper())
    return CompressedImage(format=fmt, data=buffer.getvalue())


def test_compressed_png_is_exact_and_jpeg_close() -> None:
    pixels = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (24, 1, 3))
    assert (messages.image_from_compressed(compressed("png", pixels)) == pixels).all()
    jpeg = compressed("jpeg", pixels)
    jpeg.format = "rgb8; jpeg compressed bgr8"
    decoded = messages.image_from_compressed(jpeg)
    assert decoded.shape == pixels.shape
    assert np.abs(decoded.astype(int) - pixels).mean() < 4


def test_compressed_messages_round_trip() -> None:
    pixels = frame()
    png = messages.compressed_message(TYPES, pixels, 3.5, "cam", "png")
    assert png.format == "png" and png.header.frame_id == "cam"
    assert (png.header.stamp.sec, png.header.stamp.nanosec) == (3, 500_000_000)
    assert (messages.image_from_compressed(png) == pixels).all()
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (24, 1, 3))
    jpeg = messages.compressed_message(TYPES, smooth, 0.0, "cam")
    assert jpeg.format == "jpeg" and jpeg.data[:2] == b"\xff\xd8"
    assert np.abs(messages.image_from_compressed(jpeg).astype(int) - smooth).mean() < 4
    with pytest.raises(UnsupportedImageError, match="'webp'; use jpeg or png"):
        messages.compressed_message(TYPES, pixels, 0.0, "cam", "webp")


def test_compressed_images_without_pillow_name_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    png = compressed("png", frame())
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(UnsupportedImageError, match=r"pip install 'edge-runtime\[images\]'"):
        messages.image_from_compressed(png)


def test_compressed_formats_and_data_that_do_not_decode() -> None:
    with pytest.raises(UnsupportedImageError, match="'tiff' is not supported"):
        messages.image_from_compressed(CompressedImage(format="tiff", data=b"x"))
    with pytest.raises(UnsupportedImageError, match="cannot decode"):
        messages.image_from_compressed(CompressedImage(format="png", data=b"not a png"))
