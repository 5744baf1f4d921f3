"""The persisted timing cache: kernel timings kept between builds.

Most of a TensorRT build is timing candidate kernels (tactics) for every layer; the timing cache
remembers the winners, so the next build of the same or a similar model on the same device
takes seconds instead of minutes (on a Jetson, often 10x). Timings are valid only for one
TensorRT release on one GPU, so the file name carries both, and a cache TensorRT rejects
(another device, corrupt) is logged and replaced, never fatal. The file is rewritten after each
successful build with :func:`edge_runtime.fileio.atomic_write_bytes`, so a power cut leaves the
old cache or the new one.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from edge_runtime.fileio import atomic_write_bytes

if TYPE_CHECKING:
    import tensorrt

LOG = logging.getLogger("edge_runtime.tensorrt")


def timing_cache_path(work_dir: Path, version: str, device: str) -> Path:
    """``WORK_DIR/timing-trt10.3.0.30-orin-sm87.cache``."""
    slug = re.sub(r"[^a-z0-9.]+", "-", f"trt{version}-{device}".lower()).strip("-")
    return work_dir / f"timing-{slug}.cache"


def load_timing_cache(config: tensorrt.IBuilderConfig, path: Path | None) -> None:
    """Give ``config`` the cache at ``path`` (an empty one if there is none or TensorRT
    rejects it), so the build both uses and extends it."""
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        if data:
            LOG.info("timing cache: loaded %d bytes from %s", len(data), path)
        return
    LOG.warning("timing cache %s does not match this TensorRT or GPU; starting a new one", path)
    config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def save_timing_cache(config: tensorrt.IBuilderConfig, path: Path) -> int:
    """Write the config's timing cache (old entries and this build's) to ``path``; its size."""
    data = bytes(config.get_timing_cache().serialize())
    atomic_write_bytes(path, data)
    return len(data)
