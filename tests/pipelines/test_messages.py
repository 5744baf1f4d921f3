"""Outputs to ROS 2 messages and back, through the plain message classes (no ROS needed here;
tests/ros2 runs the same conversions on rclpy's generated classes)."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage

from edge_runtime.pipelines import messages
from edge_runtime.pipelines.messages import UnsupportedImageError
from edge_runtime.pipelines.output import Output, RawTensors
from edge_runtime.pipelines.postprocess import Classification, Detections, SegmentationMap
from edge_runtime.pipelines.ros_types import CompressedImage, Image, plain_types

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


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_stamps_round_to_the_nearest_nanosecond_without_overflow(seconds: float) -> None:
    time = messages.stamp_to_time(TYPES, seconds)
    assert 0 <= time.nanosec < 1_000_000_000
    assert abs(messages.time_to_stamp(time) - seconds) <= 1e-9 + abs(seconds) * 1e-15


def test_a_stamp_just_under_a_second_rounds_up_cleanly() -> None:
    time = messages.stamp_to_time(TYPES, 1.9999999999)
    assert (time.sec, time.nanosec) == (2, 0)


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


def test_compressed_formats_and_data_that_do_not_decode() -> None:
    with pytest.raises(UnsupportedImageError, match="'tiff' is not supported"):
        messages.image_from_compressed(CompressedImage(format="tiff", data=b"x"))
    with pytest.raises(UnsupportedImageError, match="cannot decode"):
        messages.image_from_compressed(CompressedImage(format="png", data=b"not a png"))
