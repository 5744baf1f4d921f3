"""The conversions of edge_runtime.pipelines.messages on rclpy's generated classes, which
check every field's type on assignment (float64 refuses numpy floats, uint8[] wants bytes)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Classification as ClassificationMsg
from vision_msgs.msg import Detection2DArray

from edge_runtime.pipelines import messages
from edge_runtime.pipelines.output import Output
from edge_runtime.pipelines.postprocess import Classification, Detections, SegmentationMap

TYPES = messages.MessageTypes.ros()
LABELS = ("circle", "square", "triangle")


def output(result: object) -> Output:
    return Output("p", 3, 1_764_633_600.5, "cam", 0.1, 0.2, False, "30W", result)  # type: ignore[arg-type]


def test_detections_build_real_messages_that_survive_cdr() -> None:
    result = Detections(np.array([[1.5, 2, 11.5, 22]], np.float32), np.array([0.75], np.float32),
                        np.array([1], np.int64), ("square",), (48, 64))
    ((_, msg),) = messages.output_messages(TYPES, output(result))
    assert isinstance(msg, Detection2DArray)
    again = deserialize_message(serialize_message(msg), Detection2DArray)
    back = messages.detections_from_message(again, LABELS, (48, 64))
    np.testing.assert_allclose(back.boxes, result.boxes)
    assert back.class_ids.tolist() == [1] and float(back.scores[0]) == 0.75
    assert (again.header.stamp.sec, again.header.stamp.nanosec) == (1_764_633_600, 500_000_000)


def test_classification_and_mask_build_real_messages() -> None:
    ((_, cls),) = messages.output_messages(
        TYPES, output(Classification((2, 0), (0.9, 0.1), ("triangle", "circle"))))
    assert isinstance(cls, ClassificationMsg)
    assert messages.classification_from_message(cls, LABELS).class_ids == (2, 0)
    mask = np.array([[0, 2], [1, 1]], np.int64)
    ((_, image),) = messages.output_messages(TYPES, output(SegmentationMap(mask, LABELS)))
    assert isinstance(image, Image) and image.encoding == "mono8"
    again = deserialize_message(serialize_message(image), Image)
    assert messages.mask_from_message(again).tolist() == mask.tolist()


def test_a_received_image_decodes_from_rclpy_s_array_data() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = messages.image_message(TYPES, pixels, 2.0, "cam", "bgr8")
    received = deserialize_message(serialize_message(msg), Image)
    assert type(received.data).__name__ == "array"  # array.array('B'), as subscribers get it
    assert (messages.image_from_message(received) == pixels).all()


def test_padded_rows_and_mono8_from_real_messages() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    padded = np.zeros((4, 6 * 3 + 5), np.uint8)
    padded[:, :18] = pixels.reshape(4, 18)
    msg = Image(height=4, width=6, encoding="rgb8", step=23, data=padded.tobytes())
    received = deserialize_message(serialize_message(msg), Image)
    assert (messages.image_from_message(received) == pixels).all()
    mono = deserialize_message(serialize_message(
        messages.image_message(TYPES, pixels, 0.0, "cam", "mono8")), Image)
    decoded = messages.image_from_message(mono)
    assert decoded.shape == (4, 6, 3) and (decoded[..., 0] == decoded[..., 2]).all()


def test_compressed_messages_are_real_and_decode() -> None:
    pixels = np.random.default_rng(4).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    msg = messages.compressed_message(TYPES, pixels, 1.25, "cam", "png")
    assert isinstance(msg, CompressedImage)
    received = deserialize_message(serialize_message(msg), CompressedImage)
    assert (messages.image_from_compressed(received) == pixels).all()


def test_stamps_at_the_edges_fit_the_real_time_message() -> None:
    for seconds, expected in [(-1.25, (-2, 750_000_000)), (1.9999999999, (2, 0)),
                              (2.0**31 - 1, (2**31 - 1, 0)), (-(2.0**31), (-(2**31), 0))]:
        time = messages.stamp_to_time(TYPES, seconds)
        assert isinstance(time, Time) and (time.sec, time.nanosec) == expected
        assert messages.time_to_stamp(time) == seconds or expected == (2, 0)
