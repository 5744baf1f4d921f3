"""Frame sources: a synthetic camera, a directory of images, an .npy/.npz file, operator
commands from the command world (``text_commands``), and frames or texts pushed in by the host
(``external``).

A source answers one question, "what is the newest frame at time t?". It never queues: a
camera that is read late simply hands out a newer frame, and the frames in between were never
seen (a real camera driver overwrites its ring buffer the same way). A source with no rate of
its own (files) hands out the next frame on each read. The answer is a frame, or
:attr:`Empty.NOTHING_NEW` (an external source between pushes), or :attr:`Empty.EXHAUSTED`.

A frame the source cannot decode (an unreadable file, an array of the wrong shape, an image
larger than :data:`MAX_FRAME_PIXELS`) raises :class:`BadFrameError`: the runtime skips and
counts it; it is never fatal. A whole file of frames that cannot be read is the user's to fix
(:class:`~edge_runtime.errors.UserError`).

.npy/.npz files are read only through :func:`load_npy` and :func:`load_npz`, with
``allow_pickle=False``: an object array loads by unpickling, and unpickling a file runs code of
the file's choosing.
"""

from __future__ import annotations

import enum
import math
import queue
import threading
import zipfile
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from numpy.lib.npyio import NpzFile

from edge_runtime.config.stages import (
    ExternalSourceConfig,
    ImageDirSource,
    NumpySource,
    SourceConfig,
    SyntheticCameraSource,
    TextCommandsSource,
)
from edge_runtime.errors import MissingDependencyError, UserError
from edge_runtime.synthetic import SceneGenerator, SceneObject
from edge_runtime.synthetic.commands import Command, CommandGenerator

Truth = tuple[SceneObject, ...] | int | Command | None
#: The image of a text frame: texts have no pixels, and every image consumer (decoders that
#: scale boxes, sinks that record sizes) reads a shape.
NO_IMAGE: npt.NDArray[np.uint8] = np.zeros((0, 0, 3), np.uint8)


@dataclass(frozen=True)
class Frame:
    """One captured frame (H x W x 3 uint8) with its capture time and ground truth, if known.

    ``stamp`` and ``frame_id`` are the host's (ROS time or epoch seconds, a camera frame name)
    for pushed frames, carried unchanged to the output; built-in sources leave them unset.
    A text pipeline's frame carries ``text`` (one command) and :data:`NO_IMAGE`.
    """

    index: int
    image: npt.NDArray[np.uint8]
    capture_time: float
    truth: Truth = None
    stamp: float | None = None
    frame_id: str = ""
    text: str | None = None


class Empty(enum.Enum):
    """Why a read gave no frame."""

    NOTHING_NEW = "nothing new yet"
    EXHAUSTED = "exhausted"


class BadFrameError(Exception):
    """The source could not turn this frame into an image; skip it, count it, go on."""


class Source(Protocol):
    #: Native frame rate, or None for sources read on demand.
    rate_hz: float | None

    def read(self, now: float) -> Frame | Empty:
        """The newest frame at ``now``; or why there is none. Raises :class:`BadFrameError` for a
        frame that cannot be decoded (the next read moves on). A new frame has a higher
        ``index`` than the last: a frame read again (the next one is not in yet) is no new
        frame to the runtime."""

    def prefetch(self, at: float) -> None:
        """Hint: the frame newest at ``at`` will be read next (sources may prepare it)."""

    def close(self) -> None: ...


class SyntheticCamera:
    """Renders the synthetic world at ``fps``; frame k is exposed at k / fps.

    A real camera delivers frames by DMA while the CPU does other work, so rendering (the
    simulation's cost, not the robot's) should not sit in the frame's latency: on the wall clock
    the runtime asks the camera to :meth:`prefetch` the next frame, which a camera thread renders
    ahead of its exposure time. A frame read before it was prefetched is rendered on the spot.
    """

    def __init__(self, config: SyntheticCameraSource) -> None:
        self.rate_hz: float | None = config.fps
        self.generator = SceneGenerator(config.width, config.height, config.scene, config.seed,
                                        config.max_objects, config.noise)
        self._frames: dict[int, Frame] = {}
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[int | None] | None = None
        self._thread: threading.Thread | None = None

    def _index(self, at: float) -> int:
        assert self.rate_hz is not None
        return max(math.floor(at * self.rate_hz + 1e-9), 0)

    def _render(self, index: int) -> Frame:
        assert self.rate_hz is not None
        scene = self.generator.render(index)
        frame = Frame(index, scene.image, index / self.rate_hz, scene.objects)
        with self._lock:
            self._frames[index] = frame
            for stale in [k for k in self._frames if k < index - 4]:
                del self._frames[stale]
        return frame

    def read(self, now: float) -> Frame:
        index = self._index(now)
        with self._lock:
            frame = self._frames.get(index)
        return frame if frame is not None else self._render(index)

    def prefetch(self, at: float) -> None:
        if self._requests is None:
            self._requests = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._prefetching, name="camera",
                                            daemon=True)
            self._thread.start()
        self._requests.put(self._index(at))

    def _prefetching(self) -> None:
        assert self._requests is not None
        while (index := self._requests.get()) is not None:
            with self._lock:
                ready = index in self._frames
            if not ready:
                self._render(index)

    def close(self) -> None:
        if self._requests is not None and self._thread is not None:
            self._requests.put(None)
            self._thread.join(timeout=5.0)
            self._requests, self._thread = None, None
        with self._lock:
            self._frames.clear()


class TextCommands:
    """Operator commands said at ``rate_hz``: command k at k / rate_hz, with its truth.

    Like a camera it answers "the newest command at t"; a pipeline ticking at the source's
    rate reads each one once. Generating a command takes microseconds, so nothing is
    prefetched.
    """

    def __init__(self, config: TextCommandsSource) -> None:
        self.rate_hz: float | None = config.rate_hz
        self.generator = CommandGenerator(config.seed, typo_rate=config.typo_rate)

    def read(self, now: float) -> Frame:
        assert self.rate_hz is not None
        index = max(math.floor(now * self.rate_hz + 1e-9), 0)
        command = self.generator.command(index)
        return Frame(index, NO_IMAGE, index / self.rate_hz, command, text=command.text)

    def prefetch(self, at: float) -> None:
        del at

    def close(self) -> None:
        pass


class _SequenceSource:
    """Frames from an indexable collection, on demand or at a fixed rate."""

    def __init__(self, count: int, fps: float | None, loop: bool) -> None:
        self.rate_hz = fps
        self.count = count
        self.loop = loop
        self._next = 0

    def _frame(self, index: int, now: float) -> Frame:
        raise NotImplementedError

    def read(self, now: float) -> Frame | Empty:
        if self.rate_hz is not None:
            position = max(math.floor(now * self.rate_hz + 1e-9), 0)
            capture = position / self.rate_hz
        else:
            position, capture = self._next, now
            self._next += 1
        if position >= self.count and not self.loop:
            return Empty.EXHAUSTED
        return self._frame(position, capture)

    def prefetch(self, at: float) -> None:
        del at  # files are read on demand

    def close(self) -> None:
        pass


def as_rgb(image: npt.NDArray[np.generic], where: str) -> npt.NDArray[np.uint8]:
    """Any grey, RGB or RGBA image (uint8, or float in [0, 1]) as H x W x 3 uint8; a wrong
    shape raises :class:`BadFrameError`."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or 0 in array.shape:
        raise BadFrameError(f"{where}: expected an H x W x C image, got shape {list(array.shape)}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number):
            raise BadFrameError(f"{where}: expected numbers, got {array.dtype}")
        if np.issubdtype(array.dtype, np.floating) and float(array.max(initial=0)) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[..., :3])


class ArrayFileError(ValueError):
    """An .npy/.npz file numpy cannot read safely; the message says why, for the user."""


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"
#: What np.load and reading an .npz member raise for a damaged, foreign or pickled file.
_NUMPY_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _why_unreadable(path: Path, exc: Exception, what: str = "the file") -> str:
    """Why np.load failed, in the user's terms (numpy takes any file that is neither .npy nor
    a zip archive for a pickle, so its message alone would mislead for plain garbage)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_NPY_MAGIC))
    except OSError:
        head = b""
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    if not head:
        return "the file is empty (write it again with np.save or np.savez)"
    if "pickle" in text or "Python objects" in text or "Object arrays" in text:
        if head.startswith((_NPY_MAGIC, _ZIP_MAGIC)):
            return (f"{what} holds pickled Python objects (dtype object), which are refused: "
                    "unpickling can run code; save numeric arrays instead")
        return ("not a .npy/.npz file (no numpy or zip header; pickles are refused as "
                "unpickling can run code); save arrays with np.save or np.savez")
    if head.startswith(_ZIP_MAGIC):
        return f"damaged .npz archive ({reason}); write it again with np.savez"
    return f"damaged or not a .npy file ({reason}); write it again with np.save"


def load_npy(path: Path, *, mmap: bool = False) -> npt.NDArray[np.generic]:
    """One array from an .npy file, never unpickled; raises :class:`ArrayFileError`."""
    try:
        loaded = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except _NUMPY_READ_ERRORS as exc:
        raise ArrayFileError(_why_unreadable(path, exc)) from None
    if isinstance(loaded, NpzFile):
        loaded.close()
        raise ArrayFileError("this is an .npz archive, not an .npy array (name it .npz)")
    return np.asarray(loaded)


def load_npz(path: Path) -> NpzFile:
    """An .npz archive (close it, or use it in ``with``); its arrays are read with
    :func:`npz_array`. Raises :class:`ArrayFileError`."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except _NUMPY_READ_ERRORS as exc:
        raise ArrayFileError(_why_unreadable(path, exc)) from None
    if not isinstance(loaded, NpzFile):
        raise ArrayFileError("this is an .npy array, not an .npz archive (name it .npy)")
    return loaded


def npz_array(archive: NpzFile, key: str, path: Path) -> npt.NDArray[np.generic]:
    """Array ``key`` of an open archive; raises :class:`ArrayFileError`."""
    try:
        return np.asarray(archive[key])
    except _NUMPY_READ_ERRORS as exc:
        raise ArrayFileError(_why_unreadable(path, exc, f"array '{key}'")) from None


def is_numeric(array: npt.NDArray[np.generic]) -> bool:
    """Booleans, integers or floats: what a frame or a tensor can be made of."""
    return array.dtype.kind in "biuf"


class NumpyFileSource(_SequenceSource):
    """Frames from an N x H x W x C array in an .npy, or one array of an .npz."""

    def __init__(self, config: NumpySource) -> None:
        path = config.path
        if not path.is_file():
            raise UserError(f"numpy source file not found: {path}", key="source.path")
        try:
            frames, labels = self._load(config)
        except ArrayFileError as exc:
            raise UserError(str(exc), file=path, key="source.path") from None
        if frames.ndim not in (3, 4):
            raise UserError(f"expected N x H x W (x C) frames, got shape {list(frames.shape)}",
                            file=path, key="source.path")
        if not is_numeric(frames):
            raise UserError(f"frames must be numbers (uint8, or floats in [0, 1]), not "
                            f"{frames.dtype}", file=path, key="source.path")
        if len(frames) == 0:
            raise UserError("the array has no frames (its first axis is 0)", file=path,
                            key="source.path")
        if labels is not None and len(labels) < len(frames):
            raise UserError(f"{len(labels)} labels for {len(frames)} frames (give one label "
                            "per frame)", file=path, key="source.labels_key")
        super().__init__(len(frames), config.fps, config.loop)
        self.frames = frames
        self.labels = labels
        self.path = path

    @staticmethod
    def _load(config: NumpySource) -> tuple[npt.NDArray[np.generic],
                                            npt.NDArray[np.int64] | None]:
        path = config.path
        if path.suffix != ".npz":
            return load_npy(path, mmap=True), None
        with load_npz(path) as archive:
            if not archive.files:
                raise UserError("the archive has no arrays (save frames with "
                                "np.savez(path, frames=...))", file=path, key="source.path")
            key = config.key or archive.files[0]
            if key not in archive.files:
                raise UserError(f"no array '{key}' in the archive (it has {archive.files})",
                                file=path, key="source.key")
            frames = npz_array(archive, key, path)
            if config.labels_key is None:
                return frames, None
            if config.labels_key not in archive.files:
                raise UserError(f"no array '{config.labels_key}' in the archive (it has "
                                f"{archive.files})", file=path, key="source.labels_key")
            labels = npz_array(archive, config.labels_key, path)
            if labels.dtype.kind not in "iu":
                raise UserError(f"labels must be integers, not {labels.dtype}", file=path,
                                key="source.labels_key")
            return frames, labels.astype(np.int64).reshape(-1)

    def _frame(self, index: int, now: float) -> Frame:
        position = index % self.count
        truth = int(self.labels[position]) if self.labels is not None else None
        return Frame(index, as_rgb(self.frames[position], str(self.path)), now, truth)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".npy")
#: Largest image read as a frame (8192 x 8192). A PNG header can claim billions of pixels in a
#: few bytes (a decompression bomb); Pillow only warns below 2 x 89 million, and decoding one
#: such "frame" would take gigabytes. Such a file is a bad frame.
MAX_FRAME_PIXELS = 8192 * 8192


class ImageDirectorySource(_SequenceSource):
    """Images in name order (.npy always; PNG/JPEG/BMP when Pillow is installed)."""

    def __init__(self, config: ImageDirSource) -> None:
        if not config.path.is_dir():
            raise UserError(f"image directory not found: {config.path}", key="source.path")
        self.files = sorted(p for p in config.path.iterdir()
                            if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {config.path}",
                            key="source.path")
        super().__init__(len(self.files), config.fps, config.loop)

    def _frame(self, index: int, now: float) -> Frame:
        path = self.files[index % self.count]
        return Frame(index, as_rgb(_read_image(path), str(path)), now)


def _read_image(path: Path) -> npt.NDArray[np.generic]:
    """One image file as an array; any file that is not a readable image of a sane size
    raises :class:`BadFrameError` (the frame is skipped and counted)."""
    if path.suffix.lower() == ".npy":
        try:
            array = load_npy(path, mmap=True)
        except ArrayFileError as exc:
            raise BadFrameError(f"{path}: not a readable .npy image ({exc})") from None
        if array.size > MAX_FRAME_PIXELS * 4:  # RGBA at most
            raise BadFrameError(f"{path}: an array of shape {list(array.shape)} is more than "
                                f"a frame may have ({MAX_FRAME_PIXELS} pixels)")
        return np.array(array)
    try:
        from PIL import Image  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise MissingDependencyError("Pillow (to read PNG/JPEG)", "images") from None
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_FRAME_PIXELS:
                raise BadFrameError(f"{path}: {width} x {height} pixels is more than a frame "
                                    f"may have ({MAX_FRAME_PIXELS} pixels)")
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError) as exc:
        # OSError includes UnidentifiedImageError; Pillow's decoders raise SyntaxError for
        # broken chunks, and DecompressionBombError (not an OSError) for claimed sizes over
        # twice its pixel limit.
        raise BadFrameError(f"{path}: not a readable image ({exc})") from None


@dataclass(frozen=True)
class FrameIn:
    """A frame the host hands to an ``external`` pipeline: the image (or, for a text pipeline,
    the text) and the host's stamp and frame id, which the output carries back unchanged."""

    image: npt.NDArray[np.generic] | None = None
    stamp: float | None = None
    frame_id: str = ""
    text: str | None = None
    #: Ground truth, when the host knows it (a benchmark replaying the command world).
    truth: Truth = None


class ExternalSource:
    """Frames pushed by the host (a ROS subscription, a driver callback) from any thread.

    An image pipeline's source never queues, like a camera: a frame pushed while the previous
    one still waits to be read replaces it, and the replaced frame is counted in
    :attr:`replaced` (the runtime reports it as a drop). A text pipeline keeps up to ``keep``
    texts in arrival order, since every command counts and a newer one does not make an older
    one stale; only past that is the oldest replaced. Reading between pushes gives
    :attr:`Empty.NOTHING_NEW`.
    """

    rate_hz: float | None = None

    def __init__(self, name: str = "external", *, text: bool = False, keep: int = 1) -> None:
        self.name = name
        self.text = text
        self._lock = threading.Lock()
        self._waiting: deque[tuple[FrameIn, float]] = deque()
        self._keep = max(keep, 1)
        self._next_index = 0
        self.replaced = 0
        self.pushed = 0

    def push(self, frame: FrameIn, now: float) -> bool:
        """Hand over a frame received at ``now``; True if it replaced a waiting one."""
        with self._lock:
            replaced = len(self._waiting) >= self._keep
            if replaced:
                self._waiting.popleft()
            self._waiting.append((frame, now))
            self.replaced += int(replaced)
            self.pushed += 1
            return replaced

    def read(self, now: float) -> Frame | Empty:
        del now
        with self._lock:
            if not self._waiting:
                return Empty.NOTHING_NEW
            pushed, received = self._waiting.popleft()
            index = self._next_index
            self._next_index += 1
        if self.text:
            if not isinstance(pushed.text, str):
                raise BadFrameError(f"{self.name} frame {index}: a text pipeline takes texts, "
                                    "and this push had none")
            return Frame(index, NO_IMAGE, received, pushed.truth, pushed.stamp,
                         pushed.frame_id, pushed.text)
        if pushed.image is None:
            raise BadFrameError(f"{self.name} frame {index}: an image pipeline takes images, "
                                "and this push had none")
        image = as_rgb(pushed.image, f"{self.name} frame {index}")
        return Frame(index, image, received, pushed.truth, pushed.stamp, pushed.frame_id)

    def prefetch(self, at: float) -> None:
        del at

    def close(self) -> None:
        with self._lock:
            self._waiting.clear()


def open_source(config: SourceConfig, name: str = "external", *, text: bool = False,
                keep: int = 1) -> Source:
    """The source a pipeline's config describes (``name`` labels an external one; ``text``
    and ``keep``: an external one of a text pipeline and how many texts it holds)."""
    if isinstance(config, SyntheticCameraSource):
        return SyntheticCamera(config)
    if isinstance(config, NumpySource):
        return NumpyFileSource(config)
    if isinstance(config, TextCommandsSource):
        return TextCommands(config)
    if isinstance(config, ExternalSourceConfig):
        return ExternalSource(name, text=text, keep=keep)
    return ImageDirectorySource(config)
