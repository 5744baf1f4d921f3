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
from edge_runtime.pipelines.output import Output, RawTensors
from edge_runtime.pipelines.preprocess import preprocess_frame, spatial_size
from edge_runtime.pipelines.sinks import JsonLinesSink
from edge_runtime.pipelines.sources import (
    BadFrameError,
    Empty,
    ExternalSource,
    Frame,
    FrameIn,
    open_source,
)


def test_camera_frame_k_is_exposed_at_k_over_fps() -> None:
    camera = open_source(SyntheticCameraSource(type="synthetic_camera", width=32, height=24,
                                               fps=10))
    frame = camera.read(0.35)
    assert isinstance(frame, Frame) and frame.index == 3
    assert frame.capture_time == pytest.approx(0.3)
    assert frame.image.shape == (24, 32, 3) and frame.image.dtype == np.uint8
    assert camera.read(0.399) is frame  # same exposure, not rendered twice
    again = open_source(SyntheticCameraSource(type="synthetic_camera", width=32, height=24,
                                              fps=10)).read(0.3)
    assert isinstance(again, Frame) and np.array_equal(again.image, frame.image)


def test_npz_source_with_labels_and_no_loop(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "f.npz", frames=frames, labels=np.array([2, 0, 1]))
    source = open_source(NumpySource(type="numpy", path=tmp_path / "f.npz",
                                     labels_key="labels", loop=False))
    read = [source.read(0.0) for _ in range(4)]
    assert [f.truth for f in read if isinstance(f, Frame)] == [2, 0, 1]
    assert read[3] is Empty.EXHAUSTED
    assert isinstance(read[0], Frame) and np.array_equal(read[0].image, frames[0])


def test_image_dir_source_reads_npy_images_in_name_order(tmp_path: Path) -> None:
    for index in (2, 1):
        np.save(tmp_path / f"img{index}.npy", np.full((4, 4), index * 10, np.uint8))
    source = open_source(ImageDirSource(type="image_dir", path=tmp_path))
    first = source.read(0.0)
    assert isinstance(first, Frame)
    assert first.image.shape == (4, 4, 3) and first.image[0, 0, 0] == 10
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(UserError, match="no images"):
        open_source(ImageDirSource(type="image_dir", path=empty))


def test_jsonl_sink_renames_on_close_and_keeps_complete_lines_before(tmp_path: Path) -> None:
    path = tmp_path / "out" / "records.jsonl"
    sink = JsonLinesSink(path)
    for index in (0, 1):
        sink.write(Output("p", index, None, "", 0.0, 0.001, False, "30W",
                          RawTensors({"x": np.zeros((1, 2), np.float32)})))
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


def test_external_source_keeps_only_the_newest_push(tmp_path: Path) -> None:
    del tmp_path
    source = ExternalSource("cam")
    assert source.read(0.0) is Empty.NOTHING_NEW
    assert source.push(FrameIn(np.zeros((4, 4, 3), np.uint8), 1.0, "a"), now=0.5) is False
    assert source.push(FrameIn(np.ones((4, 4), np.uint8), 2.0, "b"), now=0.6) is True
    frame = source.read(0.7)
    assert isinstance(frame, Frame)
    assert (frame.index, frame.stamp, frame.frame_id, frame.capture_time) == (0, 2.0, "b", 0.6)
    assert frame.image.shape == (4, 4, 3) and int(frame.image.max()) == 1  # grey to RGB
    assert source.read(0.8) is Empty.NOTHING_NEW and source.replaced == 1
    source.push(FrameIn(np.zeros((4, 4, 2), np.uint8)), now=0.9)
    with pytest.raises(BadFrameError, match=r"expected an H x W x C image"):
        source.read(1.0)


def test_unreadable_npy_image_is_a_bad_frame_and_the_next_one_reads(tmp_path: Path) -> None:
    (tmp_path / "a.npy").write_bytes(b"garbage")
    np.save(tmp_path / "b.npy", np.zeros((4, 4, 3), np.uint8))
    source = open_source(ImageDirSource(type="image_dir", path=tmp_path, loop=False))
    with pytest.raises(BadFrameError, match=r"a\.npy"):
        source.read(0.0)
    assert isinstance(source.read(0.0), Frame)
    assert source.read(0.0) is Empty.EXHAUSTED
