"""A synthetic camera that renders in a process of its own and hands frames over shared memory.

Why: a real camera driver DMAs each frame into a ring buffer while the CPU does other work; the
robot's software only copies the newest frame out. The in-process
:class:`~edge_runtime.pipelines.sources.SyntheticCamera` renders under the runtime's GIL instead
(about 9.4 ms per 320x240 frame, some 40% of a core for three cameras), which makes a critical
pipeline on the wall clock miss its deadlines for a cost the robot would never pay.
:class:`ProcessCamera` moves the rendering into a child process that writes into a
:class:`~multiprocessing.shared_memory.SharedMemory` ring, so the runtime's process pays only
for copying a frame out.

This is part of the simulated world, not of the robot: on a robot the camera driver fills the
ring, and nothing here runs.

The ring has ``slots`` slots; frame k goes into slot ``k % slots``. A slot is a header (a
sequence counter, the frame index, the object count), the objects as float64 rows
``(class_id, x1, y1, x2, y2)`` and the image bytes. The child makes the counter odd before it
writes a slot and even again after (a seqlock); a reader copies the slot and keeps the copy only
if the counter was even and unchanged across it, so it never sees a torn frame. (Python has no
memory fences: x86 keeps stores and loads in order anyway; on ARM the protocol leans on the
microseconds of payload between the counter stores, far longer than any reordering window.)

The child is a plain subprocess, ``python -m edge_runtime.pipelines.camera_process`` (see
:func:`_main`), not a ``multiprocessing`` one: ``fork`` is unsafe in a process with threads, and
``spawn`` imports the host program's main module again in the child, which would make every
host script need an ``if __name__ == "__main__":`` guard (and pay its imports twice). The child
gets its config as JSON on the command line and is stopped by closing its stdin: it exits at
end-of-file, which also comes when the parent dies, whatever kills it (a change of
``os.getppid()`` is the second guard). Its stderr is the parent's, so a crash shows; a clean
run prints nothing. It attaches to the ring without registering it with a resource tracker of
its own (the parent owns the segment), so no tracker unlinks it, or warns about it, when the
child exits.

The child runs at a lower priority (niceness +10) than its parent. A real camera costs the
robot's CPU nothing: the rendering is the simulated world's cost, not the robot's, so the
child yields the CPU to the runtime whenever both want it, instead of competing with it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import site
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence, Sized
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_runtime.config.stages import SourceConfig, SyntheticCameraSource
from edge_runtime.pipelines.sources import Empty, Frame, Source, open_source
from edge_runtime.synthetic import Scene, SceneGenerator, SceneObject

#: Objects a slot can hold (the config allows at most 32 per frame).
MAX_OBJECTS = 64

# Header fields of a slot, int64 each.
_SEQ, _INDEX, _COUNT = 0, 1, 2
_HEADER_FIELDS = 3
_OBJECT_FIELDS = 5  # class_id, x1, y1, x2, y2
_HEADER_BYTES = _HEADER_FIELDS * 8
_OBJECTS_BYTES = MAX_OBJECTS * _OBJECT_FIELDS * 8
_SLOT_ALIGN = 64  # a cache line: two slots never share one

#: The module the child runs (``python -m``); ``__name__`` is ``"__main__"`` in the child.
_CHILD_MODULE = "edge_runtime.pipelines.camera_process"
#: How much nicer than its parent the child is by default (see the module's docstring).
NICENESS = 10
#: The niceness no process goes beyond.
_MAX_NICENESS = 19
#: Frames the child renders ahead of their exposure: the child is niced, so on a busy host it
#: may wait its turn for a while (4 frames is 133 ms at 30 Hz). The ring needs RENDER_AHEAD + 2
#: slots for it (the frames ahead, the one being read, the one being written); a ring with
#: fewer renders fewer ahead, one at least.
RENDER_AHEAD = 4
#: Longest the child sleeps between looks at its stop event and at its parent.
_POLL_S = 0.1
#: Times a reader retries after finding its slot rewritten under it.
_READ_ATTEMPTS = 4
#: How long close() waits for the child at each step (end of stdin, terminate, kill).
_JOIN_S = 2.0


def _slot_bytes(height: int, width: int) -> int:
    """One slot's size, rounded up to a cache line."""
    size = _HEADER_BYTES + _OBJECTS_BYTES + height * width * 3
    return -(-size // _SLOT_ALIGN) * _SLOT_ALIGN


def _due_index(now: float, fps: float) -> int:
    """The frame exposed at ``now`` (the same rounding as SyntheticCamera)."""
    return max(math.floor(now * fps + 1e-9), 0)


def _generator(config: SyntheticCameraSource) -> SceneGenerator:
    """The synthetic world of ``config``, built exactly as SyntheticCamera builds it."""
    return SceneGenerator(config.width, config.height, config.scene, config.seed,
                          config.max_objects, config.noise)


def _truth(rows: npt.NDArray[np.float64]) -> tuple[SceneObject, ...]:
    """Objects back from their float64 rows (float64 holds the boxes and ids exactly)."""
    return tuple(SceneObject(int(class_id), (x1, y1, x2, y2))
                 for class_id, x1, y1, x2, y2 in rows.tolist())


@dataclass(frozen=True)
class _Copied:
    """A slot's contents, copied out of shared memory."""

    index: int
    image: npt.NDArray[np.uint8]
    objects: npt.NDArray[np.float64]


class _Ring:
    """Numpy views over the slots of one shared-memory segment, for the parent and the child.

    The views export the segment's buffer, so :meth:`close` drops them before it unmaps it.
    """

    def __init__(self, shm: SharedMemory, slots: int, height: int, width: int) -> None:
        self.shm = shm
        self.slots = slots
        stride = _slot_bytes(height, width)
        buffer = shm.buf
        self.headers: npt.NDArray[np.int64] = np.ndarray(
            (slots, _HEADER_FIELDS), np.int64, buffer, 0, (stride, 8))
        self.objects: npt.NDArray[np.float64] = np.ndarray(
            (slots, MAX_OBJECTS, _OBJECT_FIELDS), np.float64, buffer, _HEADER_BYTES,
            (stride, _OBJECT_FIELDS * 8, 8))
        self.images: npt.NDArray[np.uint8] = np.ndarray(
            (slots, height, width, 3), np.uint8, buffer, _HEADER_BYTES + _OBJECTS_BYTES,
            (stride, width * 3, 3, 1))

    @classmethod
    def create(cls, slots: int, height: int, width: int) -> _Ring:
        """A new segment with every slot empty (index -1: a zeroed slot would read as frame 0)."""
        shm = SharedMemory(create=True, size=slots * _slot_bytes(height, width))
        ring = cls(shm, slots, height, width)
        ring.headers[:, _INDEX] = -1
        return ring

    def write(self, scene: Scene) -> None:
        """Put ``scene`` into its slot under the seqlock: odd counter while writing."""
        slot = scene.index % self.slots
        assert len(scene.objects) <= MAX_OBJECTS
        rows = np.array([(o.class_id, *o.box) for o in scene.objects],
                        dtype=np.float64).reshape(-1, _OBJECT_FIELDS)
        header = self.headers[slot]
        seq = int(header[_SEQ])
        header[_SEQ] = seq + 1
        header[_INDEX] = scene.index
        header[_COUNT] = len(rows)
        self.objects[slot, :len(rows)] = rows
        self.images[slot] = scene.image
        header[_SEQ] = seq + 2

    def newest(self, wanted: int) -> tuple[_Copied | None, int]:
        """A copy of the newest complete frame with index <= ``wanted`` (or None), and retries.

        A slot rewritten during the copy is looked for again (a retry): the next pick is then
        the newest frame that is still there.
        """
        for attempt in range(_READ_ATTEMPTS):
            slot = self._newest_slot(wanted)
            if slot is None:
                return None, attempt
            copied = self._copy(slot, wanted)
            if copied is not None:
                return copied, attempt
        return None, _READ_ATTEMPTS

    def has_frames(self) -> bool:
        """Whether the child has finished writing a frame yet (its counter is even again)."""
        return bool((self.headers[:, _SEQ] >= 2).any())

    def _newest_slot(self, wanted: int) -> int | None:
        """The slot of the newest complete frame <= ``wanted`` (plain Python: a handful of
        slots is cheaper to scan than numpy calls are to make)."""
        best, best_index = None, -1
        for slot, (seq, index, _) in enumerate(self.headers.tolist()):
            if seq % 2 == 0 and best_index < index <= wanted:
                best, best_index = slot, index
        return best

    def _copy(self, slot: int, wanted: int) -> _Copied | None:
        """The slot's frame if it was complete, unchanged during the copy and not too new."""
        header = self.headers[slot]
        seq = int(header[_SEQ])
        index, count = int(header[_INDEX]), int(header[_COUNT])
        if seq % 2 or not 0 <= index <= wanted or not 0 <= count <= MAX_OBJECTS:
            return None
        image = np.copy(self.images[slot])
        objects = np.copy(self.objects[slot, :count])
        if int(header[_SEQ]) != seq:
            return None
        return _Copied(index, image, objects)

    def close(self) -> None:
        """Drop the views, then unmap the segment (it stays until unlinked)."""
        del self.headers, self.objects, self.images
        self.shm.close()


@contextlib.contextmanager
def _untracked() -> Iterator[None]:
    """Attach to shared memory without registering it with this process's resource tracker.

    Before Python 3.13 (no ``track=False``) attaching registers the segment, which starts a
    tracker process that unlinks the segment, and warns of a leak, when this process exits.
    Only the child uses this, before it starts any thread of its own.
    """
    register = resource_tracker.register

    def skip_shared_memory(name: Sized, rtype: str) -> None:
        if rtype != "shared_memory":
            register(name, rtype)

    resource_tracker.register = skip_shared_memory
    try:
        yield
    finally:
        resource_tracker.register = register


def _attach(name: str) -> SharedMemory:
    """The existing segment ``name``, which its creator (the parent) alone tracks and unlinks."""
    if sys.version_info >= (3, 13):
        return SharedMemory(name=name, track=False)
    with _untracked():
        return SharedMemory(name=name)


def _run_camera(config: SyntheticCameraSource, shm_name: str, slots: int, origin: float,
                parent_pid: int, stop: threading.Event) -> None:
    """The child process: attach to the ring and render into it until told to stop."""
    ring = _Ring(_attach(shm_name), slots, config.height, config.width)
    try:
        _render_ahead(ring, _generator(config), config.fps, origin, parent_pid, stop)
    finally:
        ring.close()


def _render_ahead(ring: _Ring, generator: SceneGenerator, fps: float, origin: float,
                  parent_pid: int, stop: threading.Event) -> None:
    """Render frame k from (k - RENDER_AHEAD) / fps on, so it is in the ring before its exposure
    at k / fps even when several cameras' frames fall due at once on a busy host (the child is
    niced: it may wait its turn).

    A child that falls behind skips to the newest due frame (a camera never queues), and one
    whose parent is gone (``os.getppid()`` changed: the parent was killed) exits.
    """
    ahead = max(1, min(RENDER_AHEAD, ring.slots - 2))
    index = _due_index(time.monotonic() - origin, fps)
    while not stop.is_set() and os.getppid() == parent_pid:
        now = time.monotonic() - origin
        index = max(index, _due_index(now, fps))
        wait = (index - ahead) / fps - now
        if wait > 0:
            stop.wait(min(wait, _POLL_S))
            continue
        ring.write(generator.render(index))
        index += 1


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` at the end of stdin: the parent closed its end, or died (a child's thread)."""
    with contextlib.suppress(OSError):
        while os.read(sys.stdin.fileno(), 4096):
            pass  # nothing is sent: only the end counts
    stop.set()


def _niceness(pid: int = 0) -> int:
    """The niceness of process ``pid`` (0: this one)."""
    return os.getpriority(os.PRIO_PROCESS, pid)


def _lower_priority(pid: int, niceness: int) -> None:
    """Make process ``pid`` (0: this one) at least as nice as ``niceness``; failures are ignored
    (the child then merely competes for the CPU)."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no setpriority here
        if _niceness(pid) < niceness:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)


def _child_env() -> dict[str, str]:
    """The parent's environment, with this package's root first on ``PYTHONPATH`` unless it is a
    site directory (searched anyway): the child must import the very code the parent runs, even
    where the host put it on ``sys.path`` by hand and runs from another directory."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
    sites = [*site.getsitepackages(), site.getusersitepackages()]
    if all(Path(directory).resolve() != root for directory in sites):
        env["PYTHONPATH"] = os.pathsep.join(
            [str(root), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _start_child(config: SyntheticCameraSource, shm_name: str, slots: int, origin: float,
                 nicer_by: int) -> subprocess.Popen[bytes]:
    """Start the child: ``python -m`` this module, stdin a pipe it watches, stdout discarded,
    stderr the parent's. It is made nicer at once, so that its imports yield the CPU too."""
    niceness = min(_niceness() + nicer_by, _MAX_NICENESS)
    process = subprocess.Popen(
        [sys.executable, "-m", _CHILD_MODULE, f"--config={config.model_dump_json()}",
         f"--shm={shm_name}", f"--origin={origin!r}", f"--slots={slots}",
         f"--parent={os.getpid()}", f"--niceness={niceness}"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=_child_env())
    _lower_priority(process.pid, niceness)
    return process


def _shut_down(process: subprocess.Popen[bytes] | None, ring: _Ring) -> None:
    """Stop the child (closing its stdin first, then SIGTERM, then SIGKILL), then free the
    segment."""
    if process is not None:
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        for end in (process.terminate, process.kill, None):
            try:
                process.wait(_JOIN_S)
                break
            except subprocess.TimeoutExpired:
                if end is not None:
                    end()
    try:
        ring.close()
    finally:
        ring.shm.unlink()


class ProcessCamera:
    """The synthetic camera of ``config``, rendered by a child process into a shared ring.

    Frame k is exposed at k / fps and is the same frame SyntheticCamera renders (same generator,
    same seed). ``origin`` is the ``time.monotonic()`` that ``now == 0.0`` stands for; the child
    uses it to render each frame just ahead of its exposure. ``read`` never blocks on the child:
    while the child is starting, or for a frame older than the ring, it renders in-process
    (counted in ``fallback_renders``); when the child is late it returns the newest earlier frame.

    The child runs ``niceness`` steps nicer than this process (at most 19): by default it yields
    the CPU to the runtime (see the module's docstring); 0 makes them compete on equal terms.

    ``read`` and ``close`` are meant for one thread (the runtime's loop), not concurrent calls.
    """

    def __init__(self, config: SyntheticCameraSource, origin: float,
                 slots: int = RENDER_AHEAD + 2, niceness: int = NICENESS) -> None:
        if niceness < 0:
            raise ValueError(f"the camera process can only be nicer than this one (got {niceness})")
        if slots < 2:
            raise ValueError(f"a camera ring needs at least 2 slots (got {slots}): the child "
                             "writes the next frame while the current one is read")
        if config.max_objects > MAX_OBJECTS:
            raise ValueError(f"at most {MAX_OBJECTS} objects per frame fit a slot")
        self.rate_hz: float | None = config.fps
        self._fps = config.fps
        #: Frames rendered in this process because the ring had none to give.
        self.fallback_renders = 0
        #: Copies thrown away because the child rewrote their slot meanwhile (seqlock retries).
        self.retried_reads = 0
        self._generator = _generator(config)
        self._fallback: Frame | None = None
        ring = _Ring.create(slots, config.height, config.width)
        self._ring: _Ring | None = ring
        self.shm_name = ring.shm.name
        try:
            self._process = _start_child(config, self.shm_name, slots, origin, niceness)
        except BaseException:
            _shut_down(None, ring)
            raise
        self._closer = weakref.finalize(self, _shut_down, self._process, ring)

    @property
    def pid(self) -> int:
        """The child process's id."""
        return self._process.pid

    def read(self, now: float) -> Frame | Empty:
        """The newest frame at ``now`` from the ring. While the child is still starting (or
        for a frame older than the ring) it is :attr:`Empty.NOTHING_NEW`, as a real camera
        that is still opening delivers nothing: rendering here instead would put ~10 ms of
        work on the caller's thread (the runtime's loop). Once the child is gone (closed, or
        dead), frames are rendered here, so a camera never ends."""
        wanted = _due_index(now, self._fps)
        copied, retries = self._ring.newest(wanted) if self._ring is not None else (None, 0)
        self.retried_reads += retries
        alive = self._ring is not None and self._process.poll() is None
        if copied is None:
            return Empty.NOTHING_NEW if alive else self._render_here(wanted)
        if copied.index < wanted and not alive:
            return self._render_here(wanted)
        return Frame(copied.index, copied.image, copied.index / self._fps,
                     _truth(copied.objects))

    def prefetch(self, at: float) -> None:
        """Nothing to do: the child renders every frame ahead of its exposure anyway."""
        del at

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until the child has put its first frame in the ring; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        while self._ring is not None and self._process.poll() is None:
            if self._ring.has_frames():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return False

    def close(self) -> None:
        """Stop the child and unlink the ring; later calls do nothing, later reads render here."""
        self._ring = None
        self._closer()

    def _render_here(self, index: int) -> Frame:
        """The fallback: render in this process, as SyntheticCamera would (kept for rereads)."""
        if self._fallback is None or self._fallback.index != index:
            scene = self._generator.render(index)
            self._fallback = Frame(index, scene.image, index / self._fps, scene.objects)
            self.fallback_renders += 1
        return self._fallback


def open_wall_clock_source(config: SourceConfig, origin: float) -> Source:
    """The source for a run on the wall clock: synthetic cameras render in a child process.

    ``origin`` is the ``time.monotonic()`` of the run's ``now == 0.0``. Other sources read files
    and have no rendering to move, so they are what :func:`open_source` opens.
    """
    if isinstance(config, SyntheticCameraSource):
        return ProcessCamera(config, origin)
    return open_source(config)


def _main(argv: Sequence[str] | None = None) -> None:
    """The child's entry point: ``python -m edge_runtime.pipelines.camera_process --config=...``.

    It lowers its own priority first (the parent does too, as soon as the child exists, which
    covers the imports before this runs), ignores Ctrl-C (the terminal sends it to the whole
    process group; the parent decides when the child stops) and renders until the end of its
    stdin.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {_CHILD_MODULE}",
        description="The rendering process of a ProcessCamera (started by it, not by hand).")
    parser.add_argument("--config", required=True, help="the SyntheticCameraSource, as JSON")
    parser.add_argument("--shm", required=True, help="the name of the ring's shared memory")
    parser.add_argument("--origin", required=True, type=float,
                        help="the time.monotonic() of now == 0.0")
    parser.add_argument("--slots", required=True, type=int, help="the ring's slot count")
    parser.add_argument("--parent", required=True, type=int, help="the parent's process id")
    parser.add_argument("--niceness", required=True, type=int, help="the niceness to run at")
    args = parser.parse_args(argv)
    _lower_priority(0, args.niceness)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = SyntheticCameraSource.model_validate_json(args.config)
    stop = threading.Event()
    threading.Thread(target=_watch_stdin, args=(stop,), name="stdin-eof", daemon=True).start()
    _run_camera(config, args.shm, args.slots, args.origin, args.parent, stop)


if __name__ == "__main__":
    _main()
    # As a multiprocessing child does: skip the interpreter's teardown (numpy, pydantic: some
    # 0.1 s that close() would wait for); the segment is unmapped, and nothing else needs it.
    sys.stderr.flush()
    os._exit(0)
