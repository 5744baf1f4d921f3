"""Frame to tensor: resize, scale, normalise, lay out, cast.

The training tools call :func:`preprocess_frame` too, so a model sees the same pixels in
training, in evaluation and on the robot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge_runtime.config.stages import PreprocessConfig, TokenizeConfig
from edge_runtime.graph.tensors import TensorSpec
from edge_runtime.imaging import resize_bilinear, resize_nearest
from edge_runtime.pipelines.text import tokens_misfit

_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}


def preprocess_frame(
    frame: npt.NDArray[np.uint8], config: PreprocessConfig, size: tuple[int, int] | None = None
) -> npt.NDArray[np.generic]:
    """One H x W x C frame to a new batch-of-one tensor.

    ``size`` (height, width) is used when the config gives no ``resize`` (the engine input's
    spatial size). The runtime's :class:`Preprocessor` does the same into reused buffers.
    """
    return Preprocessor(config, size, buffers=1)(frame)


def spatial_size(shape: list[int] | tuple[int, ...], layout: str) -> tuple[int, int] | None:
    """(height, width) of an engine input shape in the given layout, if both are static."""
    if len(shape) != 4:
        return None
    height, width = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    if height > 0 and width > 0:
        return int(height), int(width)
    return None


#: A config mistake: the key (under the preprocess mapping) and what is wrong, with the fix.
Misfit = tuple[tuple[str, ...], str]


def preprocess_misfit(config: PreprocessConfig | TokenizeConfig, inputs: Sequence[TensorSpec],
                      check_dtype: bool = True) -> Misfit | None:
    """Why tensors made by ``config`` cannot feed the engine's ``inputs`` (None: they can).
    Checked before a build: otherwise the mismatch shows as onnxruntime's INVALID_ARGUMENT
    during evaluation, or as every frame failing once the pipeline runs."""
    if isinstance(config, TokenizeConfig):
        return tokens_misfit(inputs)
    return _image_misfit(config, inputs, check_dtype)


def _image_misfit(config: PreprocessConfig, inputs: Sequence[TensorSpec],
                  check_dtype: bool) -> Misfit | None:
    names = [spec.name for spec in inputs]
    wanted = config.input or (names[0] if names else None)
    spec = next((s for s in inputs if s.name == wanted), None)
    if spec is None:
        return ("input",), f"the engine has no input '{wanted}' (its inputs: {names})"
    shape = spec.shape
    if len(shape) != 4:
        return (), (f"input {spec.describe()} is not a batch of images (N x C x H x W or "
                    "N x H x W x C); a pipeline feeds frames")
    channels = shape[1] if config.layout == "nchw" else shape[3]
    if isinstance(channels, int) and channels != 3:
        other = "nhwc" if config.layout == "nchw" else "nchw"
        flipped = shape[3] if config.layout == "nchw" else shape[1]
        fix = f"set layout: {other}" if flipped == 3 else "the model must take 3 channels"
        return ("layout",), (f"in {config.layout} layout, input {spec.describe()} has "
                             f"{channels} channels and a frame 3 ({fix})")
    size = spatial_size([d if isinstance(d, int) else -1 for d in shape], config.layout)
    if config.resize is not None and size is not None and tuple(config.resize) != size:
        return ("resize",), (f"resize {list(config.resize)} does not fit input "
                             f"{spec.describe()} (set resize: {list(size)}, or leave it out)")
    if check_dtype and config.dtype != spec.dtype:
        fix = f"set dtype: {spec.dtype}" if spec.dtype in _DTYPES else \
            "the model must take float32, float16 or uint8"
        return ("dtype",), f"input {spec.describe()} takes {spec.dtype}, not {config.dtype} ({fix})"
    return None


class Preprocessor:
    """Frame to tensor for one pipeline: resize, scale, normalise, lay out, cast, into reused
    output buffers (the one home of this arithmetic; :func:`preprocess_frame` is a one-off).

    The scale and normalisation run in place on the resized image, and the result is copied
    into the next of ``buffers`` outputs, so a steady pipeline allocates no output tensors. A
    tensor is reused only once that many newer frames were prepared: the caller sizes the
    pool to the frames that can be in flight at once (waiting, running, being prepared).
    """

    def __init__(self, config: PreprocessConfig, size: tuple[int, int] | None,
                 buffers: int) -> None:
        self.config = config
        target = config.resize or size
        self.target: tuple[int, int] | None = (int(target[0]), int(target[1])) \
            if target is not None else None
        self.resize = resize_bilinear if config.interpolation == "bilinear" else resize_nearest
        self.scale = np.float32(config.scale)
        self.mean = np.asarray(config.mean, dtype=np.float32)
        self.std = np.asarray(config.std, dtype=np.float32)
        self.dtype = _DTYPES[config.dtype]
        self.buffers = max(buffers, 1)
        self._pool: list[npt.NDArray[np.generic]] = []
        self._next = 0

    def __call__(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.generic]:
        if self.target is not None and (frame.shape[0], frame.shape[1]) != self.target:
            image = self.resize(frame, self.target[0], self.target[1])
        else:
            image = frame.astype(np.float32)
        if self.config.dtype != "uint8":
            np.multiply(image, self.scale, out=image)
            np.subtract(image, self.mean, out=image)
            np.divide(image, self.std, out=image)
        laid = image if self.config.layout == "nhwc" else np.transpose(image, (2, 0, 1))
        if self.dtype is np.uint8:
            laid = np.clip(np.rint(laid), 0, 255)
        out = self._buffer(laid.shape)
        np.copyto(out[0], laid, casting="unsafe")
        return out

    def _buffer(self, shape: tuple[int, ...]) -> npt.NDArray[np.generic]:
        if len(self._pool) < self.buffers or self._pool[self._next].shape[1:] != shape:
            buffer = np.empty((1, *shape), dtype=self.dtype)
            if len(self._pool) < self.buffers:
                self._pool.append(buffer)
                return buffer
            self._pool[self._next] = buffer
        out = self._pool[self._next]
        self._next = (self._next + 1) % self.buffers
        return out
