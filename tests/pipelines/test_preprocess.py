"""The runtime's Preprocessor: the reference arithmetic, into a pool of reused buffers."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from edge_runtime.config.stages import PreprocessConfig
from edge_runtime.imaging import resize_bilinear
from edge_runtime.pipelines.preprocess import Preprocessor, preprocess_frame


def reference(frame: npt.NDArray[np.uint8], config: PreprocessConfig) -> npt.NDArray[np.generic]:
    """The arithmetic written out plainly: resize, (x * scale - mean) / std, NCHW, cast."""
    assert config.resize is not None
    image = resize_bilinear(frame, *config.resize) * np.float32(config.scale)
    image = (image - np.asarray(config.mean, np.float32)) / np.asarray(config.std, np.float32)
    return np.ascontiguousarray(np.transpose(image, (2, 0, 1))[None], dtype=config.dtype)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_tensors_equal_the_reference_and_buffers_cycle(dtype: str) -> None:
    config = PreprocessConfig(resize=(12, 16), mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25),
                              dtype=dtype)
    frames = np.random.default_rng(1).integers(0, 255, (5, 30, 40, 3), dtype=np.uint8)
    prepare = Preprocessor(config, None, buffers=3)
    tensors = [prepare(frame) for frame in frames[:3]]
    for frame, tensor in zip(frames, tensors, strict=False):
        np.testing.assert_array_equal(tensor, reference(frame, config))
        assert tensor.dtype == np.dtype(dtype) and tensor.flags.c_contiguous
    assert len({id(t) for t in tensors}) == 3  # three frames in flight: three buffers
    fourth = prepare(frames[3])
    assert fourth is tensors[0]  # the oldest is reused, and only it
    np.testing.assert_array_equal(tensors[1], reference(frames[1], config))
    np.testing.assert_array_equal(fourth, preprocess_frame(frames[3], config))
    assert preprocess_frame(frames[4], config) is not preprocess_frame(frames[4], config)
