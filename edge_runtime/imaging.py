"""Pure-numpy image operations shared by the synthetic camera, preprocessing and the training tools.

Why not OpenCV or Pillow: the runtime must resize frames identically in training, evaluation and
deployment, and two dozen lines of numpy are cheaper than a binary dependency on every Jetson
image. Bilinear uses half-pixel centres (OpenCV's ``INTER_LINEAR``, PyTorch's
``align_corners=False``), so an exact 2x downscale is a 2x2 box average.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@lru_cache(maxsize=64)
def _bilinear_taps(
    src: int, dst: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Index pairs and weights along one axis; cached because frame sizes repeat every frame."""
    centres = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    centres = np.clip(centres, 0.0, src - 1)
    low = np.floor(centres).astype(np.intp)
    high = np.minimum(low + 1, src - 1)
    weight = (centres - low).astype(np.float32)
    return low, high, weight


def resize_bilinear(image: npt.NDArray[np.generic], height: int, width: int) -> FloatArray:
    """Resize an HxW or HxWxC image to ``height`` x ``width``; returns float32."""
    src = np.asarray(image, dtype=np.float32)
    if src.shape[0] == height and src.shape[1] == width:
        return src
    half = np.float32(0.5)
    if src.shape[0] == 2 * height:  # exact 2x: taps 2i and 2i+1, weight 0.5 (same arithmetic)
        rows = src[0::2] * half + src[1::2] * half
    else:
        y0, y1, wy = _bilinear_taps(src.shape[0], height)
        wy_b = wy.reshape((-1,) + (1,) * (src.ndim - 1))
        rows = src[y0] * (1.0 - wy_b) + src[y1] * wy_b
    if src.shape[1] == 2 * width:
        out = rows[:, 0::2] * half + rows[:, 1::2] * half
    else:
        x0, x1, wx = _bilinear_taps(src.shape[1], width)
        wx_b = wx.reshape((1, -1) + (1,) * (src.ndim - 2))
        out = rows[:, x0] * (1.0 - wx_b) + rows[:, x1] * wx_b
    return np.asarray(out, dtype=np.float32)


def resize_nearest(image: npt.NDArray[np.generic], height: int, width: int) -> FloatArray:
    """Nearest-neighbour resize (for masks and label maps); returns float32."""
    src = np.asarray(image, dtype=np.float32)
    ys = np.minimum(((np.arange(height) + 0.5) * src.shape[0] / height).astype(np.intp),
                    src.shape[0] - 1)
    xs = np.minimum(((np.arange(width) + 0.5) * src.shape[1] / width).astype(np.intp),
                    src.shape[1] - 1)
    return np.asarray(src[ys][:, xs], dtype=np.float32)
