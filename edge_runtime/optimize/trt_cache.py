"""TensorRT's INT8 calibration cache, written from our activation ranges.

The format TensorRT's calibrators read and write (``readCalibrationCache``, ``trtexec --calib``):
a header line ``TRT-<version>-<algorithm>``, then one ``<tensor>: <scale>`` line per tensor,
where the scale (amax / 127, symmetric INT8) is the big-endian IEEE-754 float32, as 8 hex digits.
``<version>`` is NV_TENSORRT_VERSION (8.5.2 -> 8502; from 10, major*10000 + minor*100 + patch,
so 10.3.0 -> 100300). A DLA build (TensorRT 8.5 on JetPack 5) takes its INT8 scales from here;
tensor names are the ONNX tensor names, which TensorRT's ONNX parser keeps.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from edge_runtime.config.recipe import CalibrationMethod
from edge_runtime.jetpack import newest as newest_jetpack
from edge_runtime.optimize.calibration import ActivationRanges

INT8_MAX = 127.0
#: TensorRT calibrator class whose cache each method's ranges are closest to.
ALGORITHMS = {
    CalibrationMethod.ENTROPY: "EntropyCalibration2",
    CalibrationMethod.MINMAX: "MinMaxCalibration",
    CalibrationMethod.PERCENTILE: "EntropyCalibration2",
}
#: The newest JetPack's TensorRT (6.1, 6.2: 10.3; 6.0: 8.6.2), from :mod:`edge_runtime.jetpack`.
DEFAULT_TRT_VERSION = newest_jetpack().tensorrt


def version_tag(version: str) -> str:
    """NV_TENSORRT_VERSION for a dotted TensorRT version."""
    parts = [int(p) for p in [*version.split("."), "0", "0"][:3]]
    major, minor, patch = parts
    return str(major * 10000 + minor * 100 + patch if major >= 10
               else major * 1000 + minor * 100 + patch)


def encode_scale(scale: float) -> str:
    return struct.pack(">f", scale).hex()


def decode_scale(text: str) -> float:
    value: float = struct.unpack(">f", bytes.fromhex(text.strip()))[0]
    return value


def write_cache(ranges: ActivationRanges, trt_version: str = DEFAULT_TRT_VERSION) -> bytes:
    """The calibration cache for ``ranges`` (tensors with a zero range are left out: TensorRT
    then treats them as it would an uncalibrated tensor)."""
    lines = [f"TRT-{version_tag(trt_version)}-{ALGORITHMS[ranges.method]}"]
    for name, value in sorted(ranges.ranges.items()):
        if value.amax > 0:
            lines.append(f"{name}: {encode_scale(value.amax / INT8_MAX)}")
    return ("\n".join(lines) + "\n").encode("ascii")


def read_cache(data: bytes) -> tuple[str, Mapping[str, float]]:
    """(header, tensor -> scale) of a TensorRT calibration cache."""
    lines = data.decode("ascii").splitlines()
    if not lines or not lines[0].startswith("TRT-"):
        raise ValueError("not a TensorRT calibration cache (no TRT- header)")
    scales = {}
    for line in lines[1:]:
        if line.strip():
            name, _, hex_scale = line.rpartition(":")
            scales[name.strip()] = decode_scale(hex_scale)
    return lines[0], scales
