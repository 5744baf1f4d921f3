"""Synthetic frames as ROS 2 messages built by hand (stock sensor_msgs, no runtime code), with
their ground truth: what a camera driver on the robot would publish."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from builtin_interfaces.msg import Time
from PIL import Image as PILImage
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from edge_runtime.synthetic.scenes import Scene, SceneGenerator, SceneKind

#: The detector's world (engines/detector.yaml evaluates on the same kind of scenes).
WIDTH, HEIGHT = 320, 240
FRAME_ID = "front_camera_optical"


def scenes(seed: int, count: int) -> list[Scene]:
    generator = SceneGenerator(WIDTH, HEIGHT, SceneKind.MULTI, seed)
    return [generator.render(index) for index in range(count)]


def stamp(index: int) -> Time:
    """Distinct, with nanoseconds a float round trip would move."""
    return Time(sec=1_764_633_600 + index, nanosec=123_456_789)


def header(index: int) -> Header:
    return Header(stamp=stamp(index), frame_id=FRAME_ID)


def image(pixels: npt.NDArray[np.uint8], index: int, encoding: str = "rgb8",
          pad: int = 0) -> Image:
    rows = pixels if encoding != "bgr8" else pixels[..., ::-1]
    if encoding == "mono8":
        rows = pixels.mean(axis=2).astype(np.uint8)
    rows = np.ascontiguousarray(rows).reshape(pixels.shape[0], -1)
    if pad:
        rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
    return Image(header=header(index), height=pixels.shape[0], width=pixels.shape[1],
                 encoding=encoding, is_bigendian=0, step=rows.shape[1], data=rows.tobytes())


def depth_image(index: int) -> Image:
    values = np.full((HEIGHT, WIDTH), 1500, np.uint16)
    return Image(header=header(index), height=HEIGHT, width=WIDTH, encoding="16UC1",
                 is_bigendian=0, step=WIDTH * 2, data=values.tobytes())


def compressed(pixels: npt.NDArray[np.uint8], index: int, fmt: str = "png") -> CompressedImage:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format=fmt.upper())
    return CompressedImage(header=header(index), format=fmt, data=buffer.getvalue())
