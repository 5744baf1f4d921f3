"""Sources hand out the newest frame; sinks write complete files only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.config.stages import (
    ImageDirSource,
    NumpySource,
    PreprocessConfig,
    SyntheticCameraSource,
)
from edge_runtime.errors import UserError
from edge_runtime.pipelines.preprocess import preprocess_frame, spatial_size
from edge_runtime.pipelines.sinks import JsonLinesSink
from edge_runtime.pipelines.sources import open_source


def test_camera_frame_k_is_exposed_at_k_over_fps() -> None:
    camera = open_source(SyntheticCameraSource(type="synthetic_camera", width=32, height=24,
                                               fps=10))
    frame = camera.read(0.35)
    assert frame is not None and frame.index == 3 and frame.capture_time == pytest.approx(0.3)
    assert frame.image.shape == (24, 32, 3) and frame.image.dtype == np.uint8
    assert camera.read(0.399) is frame  # same exposure, not rendered twice
    again = open_source(SyntheticCameraSource(type="synthetic_camera", width=32, height=24,
                                              fps=10)).read(0.3)
    assert again is not None and np.array_equal(again.image, frame.image)


def test_npz_source_with_labels_and_no_loop(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "f.npz", frames=frames, labels=np.array([2, 0, 1]))
    source = open_source(NumpySource(type="numpy", path=tmp_path / "f.npz",
                                     labels_key="labels", loop=False))
    read = [source.read(0.0) for _ in range(4)]
    assert [f.truth for f in read if f is not None] == [2, 0, 1]
    assert read[3] is None
    assert read[0] is not None and np.array_equal(read[0].image, frames[0])


def test_image_dir_source_reads_npy_images_in_name_order(tmp_path: Path) -> None:
    for index in (2, 1):
        np.save(tmp_path / f"img{index}.npy", np.full((4, 4), index * 10, np.uint8))
    source = open_source(ImageDirSource(type="image_dir", path=tmp_path))
    first = source.read(0.0)
    assert first is not None and first.image.shape == (4, 4, 3) and first.image[0, 0, 0] == 10
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(UserError, match="no images"):
        open_source(ImageDirSource(type="image_dir", path=empty))


def test_jsonl_sink_renames_on_close_and_keeps_complete_lines_before(tmp_path: Path) -> None:
    path = tmp_path / "out" / "records.jsonl"
    sink = JsonLinesSink(path)
    sink.write({"frame": 0})
    sink.write({"frame": 1})
    assert not path.exists()
    partial = path.with_name("records.jsonl.part").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in partial] == [0, 1]  # flushed, whole lines
    sink.close()
    assert path.exists() and not path.with_name("records.jsonl.part").exists()


def test_preprocess_layout_dtype_and_normalisation() -> None:
    frame = np.full((4, 6, 3), 255, np.uint8)
    nchw = preprocess_frame(frame, PreprocessConfig(resize=(2, 3), mean=(0.5, 0.5, 0.5),
                                                    std=(0.5, 0.5, 0.5)))
    assert nchw.shape == (1, 3, 2, 3) and nchw.dtype == np.float32
    np.testing.assert_allclose(np.asarray(nchw, np.float32), 1.0)
    nhwc = preprocess_frame(frame, PreprocessConfig(layout="nhwc", dtype="uint8"), (2, 2))
    assert nhwc.shape == (1, 2, 2, 3) and nhwc.dtype == np.uint8 and nhwc.max() == 255
    assert spatial_size([1, 3, 120, 160], "nchw") == (120, 160)
    assert spatial_size([1, 120, 160, 3], "nhwc") == (120, 160)
