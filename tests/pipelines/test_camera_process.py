"""ProcessCamera: the synthetic camera rendered in a child process, frames over shared memory.

These tests start real processes and real shared memory. They check that the frames are the
ones SyntheticCamera renders, that a read gets the newest frame at its time, that a read never
sees a frame half-written, that nothing (process or segment) outlives the camera, even when
the camera's process is killed, and that a host script needs no ``__main__`` guard.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.config.stages import NumpySource, SyntheticCameraSource
from edge_runtime.pipelines.camera_process import ProcessCamera, _Ring, open_wall_clock_source
from edge_runtime.pipelines.sources import Empty, Frame, NumpyFileSource, Source, SyntheticCamera
from edge_runtime.synthetic import SceneKind


def read(source: Source, now: float) -> Frame:
    """``source.read(now)``, which must be a frame here."""
    got = source.read(now)
    assert isinstance(got, Frame), got
    return got

REPO = Path(__file__).resolve().parents[2]
#: Long enough for the child to import numpy and the runtime on a loaded machine.
READY_S = 20.0

OpenCamera = Callable[[SyntheticCameraSource, float, int], ProcessCamera]


def _config(width: int = 160, height: int = 120, fps: float = 50.0,
            scene: SceneKind = SceneKind.MULTI) -> SyntheticCameraSource:
    return SyntheticCameraSource(type="synthetic_camera", width=width, height=height, fps=fps,
                                 scene=scene, seed=7, max_objects=8)


@pytest.fixture
def open_camera() -> Iterator[OpenCamera]:
    """Opens ProcessCameras that are ready (the child has written a frame); closes them after."""
    cameras: list[ProcessCamera] = []

    def open_(config: SyntheticCameraSource, origin: float, slots: int) -> ProcessCamera:
        camera = ProcessCamera(config, origin, slots)
        cameras.append(camera)
        assert camera.wait_ready(READY_S), "the camera process did not start"
        return camera

    yield open_
    for camera in cameras:
        camera.close()


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie waiting for init counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _unlinked(name: str) -> bool:
    try:
        SharedMemory(name=name).close()
    except FileNotFoundError:
        return True
    return False


def _same(frame: Frame, reference: Frame) -> bool:
    return (frame.index == reference.index and frame.capture_time == reference.capture_time
            and frame.truth == reference.truth and np.array_equal(frame.image, reference.image))


def _sleep_until(origin: float, at: float) -> None:
    time.sleep(max(origin + at - time.monotonic(), 0.0))


@pytest.mark.parametrize(("width", "height", "fps", "scene"), [
    (320, 240, 12.0, SceneKind.MULTI),  # slow rates: the child keeps up on a loaded machine
    (160, 120, 25.0, SceneKind.SINGLE),
])
def test_frames_and_truth_are_the_synthetic_cameras(open_camera: OpenCamera, width: int,
                                                    height: int, fps: float,
                                                    scene: SceneKind) -> None:
    config = _config(width, height, fps, scene)
    origin = time.monotonic() - 100.0  # frame indices in the thousands
    camera = open_camera(config, origin, 12)  # 4 ahead, 1 being written, 7 past
    time.sleep(7 / fps)  # let the ring fill
    newest = read(camera, time.monotonic() - origin).index
    indices = range(newest - 5, newest + 1)
    frames = [read(camera, index / fps) for index in indices]  # copy out before comparing
    assert camera.fallback_renders == 0, "all six frames should come from the child's ring"
    reference = SyntheticCamera(config)
    for index, frame in zip(indices, frames, strict=True):
        assert _same(frame, read(reference, index / fps)), f"frame {index} differs"
    if scene is SceneKind.MULTI:
        assert any(frame.truth for frame in frames)


def test_read_gives_the_newest_frame_at_now(open_camera: OpenCamera) -> None:
    fps = 10.0
    origin = time.monotonic() - 100.0
    camera = open_camera(_config(64, 48, fps), origin, 4)
    for _ in range(3):
        k = int((time.monotonic() - origin) * fps) + 1
        _sleep_until(origin, k / fps + 0.003)  # just past frame k's exposure
        now = time.monotonic() - origin
        frame = read(camera, now)
        assert frame.index == int(now * fps) == k
        assert frame.capture_time == k / fps
        assert read(camera, now - 1 / fps).index == k - 1
    assert camera.fallback_renders == 0
    # A frame the child has not rendered yet: the newest earlier one, not a render here.
    ahead = read(camera, time.monotonic() - origin + 10.0)
    assert k <= ahead.index <= k + 2 and camera.fallback_renders == 0


def test_a_frame_the_ring_cannot_give_is_nothing_new_until_the_child_is_gone(
        open_camera: OpenCamera) -> None:
    config = _config(64, 48, 10.0)
    camera = open_camera(config, time.monotonic() - 100.0, 4)
    assert camera.wait_ready(READY_S)
    # frame 0 was exposed 100 s ago, long out of the ring: a live camera has nothing for it,
    # and rendering it here would put the simulation's cost on the reader's thread
    assert camera.read(0.0) is Empty.NOTHING_NEW and camera.fallback_renders == 0
    camera.close()
    frame = read(camera, 0.0)  # once the child is gone, frames are rendered here
    assert isinstance(frame, Frame) and camera.fallback_renders == 1
    assert _same(frame, read(SyntheticCamera(config), 0.0))
    assert read(camera, 0.05) is frame and camera.fallback_renders == 1  # not rendered twice


def test_reads_never_see_a_torn_frame() -> None:
    """Hammer read() from a thread for a second while the child rewrites a two-slot ring.

    Until the child writes frame k + 1, over the slot of frame k - 1, the reads ask for frame
    k - 1 (one period behind), so they race that write; then (frame k - 1 is gone, and would be
    rendered here) for the newest frame, until the next period. Each image is compared with
    the reference rendered beforehand, while the child was starting. The reader spins on a
    core, which a nicer child would yield to it on a loaded machine: here they compete equally.
    """
    config = _config(160, 120, 60.0)
    fps, origin, first, last = config.fps, time.monotonic(), 1.0, 3.0
    camera = ProcessCamera(config, origin, 2, niceness=0)
    try:
        reference = SyntheticCamera(config)
        expected = {k: read(reference, k / fps) for k in range(int(first * fps) - 2,
                                                               int(last * fps) + 2)}
        assert camera.wait_ready(READY_S)
        _sleep_until(origin, first)
        start = time.monotonic() - origin  # later than `first` on a slow machine
        end = min(start + 1.0, last)
        assert end - start > 0.5, "too slow a start to leave a referenced second to read in"
        outcome: list[tuple[int, bool]] = []
        reader = threading.Thread(target=lambda: outcome.extend(
            _hammer(camera, origin, end, expected)))
        reader.start()
        reader.join(10.0)
        print(f"{len(outcome)} reads, {camera.retried_reads} seqlock retries, "
              f"{camera.fallback_renders} renders here")
        assert outcome and not reader.is_alive()
        assert [index for index, same in outcome if not same] == []
        assert len({index for index, _ in outcome}) >= 20  # the child kept writing meanwhile
    finally:
        camera.close()


def _hammer(camera: ProcessCamera, origin: float, end: float,
            expected: dict[int, Frame]) -> list[tuple[int, bool]]:
    """(index, equal to its reference) for each read until ``end``."""
    assert camera.rate_hz is not None
    fps, caught_up = camera.rate_hz, -1
    outcome: list[tuple[int, bool]] = []
    while (now := time.monotonic() - origin) < end:
        due = int(now * fps)
        frame = camera.read(now - 1 / fps if due > caught_up else now)
        if not isinstance(frame, Frame):  # a period back was overwritten: read the newest
            caught_up = due
            continue
        outcome.append((frame.index, _same(frame, expected[frame.index])))
    return outcome


_RING_WRITER = """
    import sys, time
    import numpy as np
    from edge_runtime.pipelines.camera_process import _Ring, _attach
    from edge_runtime.synthetic import Scene, SceneObject

    ring = _Ring(_attach(sys.argv[1]), 2, 240, 320)  # untracked: the test owns the segment
    images = [np.full((240, 320, 3), value, np.uint8) for value in range(256)]
    end, index = time.monotonic() + float(sys.argv[2]), 0
    while time.monotonic() < end:
        box = (index / 1e6, 0.0, 1.0, 1.0)
        ring.write(Scene(images[index % 256], (SceneObject(index % 8, box),), index))
        index += 1
    ring.close()
    print(index)
"""


def test_the_ring_never_hands_out_a_torn_slot() -> None:
    """The seqlock on its own, at full speed: another process rewrites a two-slot ring with
    frames of one grey level each (frame k: level k % 256) as fast as it can, while this one
    copies the newest slot out; every copy must be one frame, pixels and objects."""
    ring = _Ring.create(2, 240, 320)
    try:
        writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_RING_WRITER),
                                   ring.shm.name, "0.7"], cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: ring.has_frames() or writer.poll() is not None, READY_S)
        copies, retries, torn = 0, 0, []
        while writer.poll() is None:
            copied, retried = ring.newest(sys.maxsize)
            retries += retried
            if copied is None:
                continue
            copies += 1
            level = copied.index % 256
            if (copied.image.min() != level or copied.image.max() != level
                    or copied.objects.tolist() != [[copied.index % 8, copied.index / 1e6, 0.0,
                                                    1.0, 1.0]]):
                torn.append(copied.index)
        out, err = writer.communicate(timeout=30)
        print(f"{out.strip()} writes, {copies} copies, {retries} seqlock retries")
        assert writer.returncode == 0, err
        assert "leaked" not in err, err  # the writer did not track the segment
        assert copies > 100 and torn == []
    finally:
        ring.close()
        ring.shm.unlink()


def test_close_stops_the_child_and_unlinks_the_ring(open_camera: OpenCamera) -> None:
    config = _config(64, 48, 30.0)
    camera = open_camera(config, time.monotonic(), 4)
    pid, name = camera.pid, camera.shm_name
    assert pid is not None and not _gone(pid) and not _unlinked(name)
    camera.close()
    camera.close()
    assert _gone(pid)
    with pytest.raises(FileNotFoundError):
        SharedMemory(name=name)
    assert _same(read(camera, 0.5), read(SyntheticCamera(config), 0.5))  # rendered here now
    # Closed while the child is still starting up: it is stopped and the ring unlinked too.
    early = ProcessCamera(config, time.monotonic())
    early.close()
    assert _gone(early.pid) and _unlinked(early.shm_name)


def _niceness(pid: int) -> int:
    """Field 19 of ``/proc/<pid>/stat``: the process's niceness."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_child_yields_the_cpu_to_its_parent(open_camera: OpenCamera) -> None:
    camera = open_camera(_config(64, 48, 10.0), time.monotonic(), 2)
    parent = _niceness(os.getpid())
    assert _niceness(camera.pid) == min(parent + 10, 19) > parent


def test_too_few_slots_or_a_greedier_child_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 slots"):
        ProcessCamera(_config(), time.monotonic(), slots=1)
    with pytest.raises(ValueError, match="only be nicer"):
        ProcessCamera(_config(), time.monotonic(), niceness=-1)


def _python(script: str) -> subprocess.Popen[str]:
    """``script`` in a fresh interpreter, as the runtime's own process would run it."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


_OPEN = """
    import time
    from edge_runtime.config.stages import SyntheticCameraSource
    from edge_runtime.pipelines.camera_process import ProcessCamera

    def cameras(count):
        config = SyntheticCameraSource(type="synthetic_camera", width=64, height=48)
        opened = [ProcessCamera(config, time.monotonic()) for _ in range(count)]
        for camera in opened:
            assert camera.wait_ready(20.0)
            camera.read(time.monotonic())
        return opened
"""


def test_nothing_leaks_at_exit_closed_or_not() -> None:
    """The resource tracker warns about leaked segments when the interpreter exits: none."""
    run = _python(_OPEN + """
    if __name__ == "__main__":
        closed, left_open = cameras(2)
        closed.close()
        print(closed.shm_name, left_open.shm_name, left_open.pid, flush=True)
    """)  # left_open is closed by its finalizer at exit
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "leaked" not in err and "Traceback" not in err, err
    closed_name, open_name, pid = out.split()
    assert _unlinked(closed_name) and _unlinked(open_name) and _gone(int(pid))


def test_child_exits_when_its_parent_is_killed() -> None:
    run = _python(_OPEN + """
    if __name__ == "__main__":
        (opened,) = cameras(1)
        print(opened.pid, opened.shm_name, flush=True)
        time.sleep(60)
    """)
    assert run.stdout is not None
    line = run.stdout.readline().split()
    assert len(line) == 2, run.communicate(timeout=30)[1]
    child, name = int(line[0]), line[1]
    try:
        os.kill(run.pid, signal.SIGKILL)
        assert _wait_for(lambda: _gone(child), 5.0), "the camera process outlived its parent"
        run.communicate(timeout=30)  # the parent's resource tracker has exited too
        assert _wait_for(lambda: _unlinked(name), 5.0), "the ring outlived the camera"
    finally:
        if not _gone(child):
            os.kill(child, signal.SIGKILL)


_NO_GUARD = """
    import time
    from edge_runtime.config.stages import SyntheticCameraSource
    from edge_runtime.pipelines.camera_process import ProcessCamera

    config = SyntheticCameraSource(type="synthetic_camera", width=64, height=48, fps=50.0)
    origin = time.monotonic()
    camera = ProcessCamera(config, origin)
    assert camera.wait_ready(20.0), "the camera process did not start"
    indices = []
    for _ in range(5):
        indices.append(camera.read(time.monotonic() - origin).index)
        time.sleep(1 / config.fps)
    camera.close()
    print(camera.pid, camera.shm_name, camera.fallback_renders, *indices)
"""


def test_a_host_script_needs_no_main_guard(tmp_path: Path) -> None:
    """The child does not import the host's main module: a script without the
    ``if __name__ == "__main__":`` guard works, run from elsewhere than the repository, and
    neither it nor its camera's process writes anything to stderr (no traceback, no resource
    tracker warning)."""
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent(_NO_GUARD))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    pid, name, fallback_renders, *indices = run.stdout.split()
    assert fallback_renders == "0", "every frame should come from the child's ring"
    assert [int(index) for index in indices] == sorted(int(index) for index in indices)
    assert _gone(int(pid)) and _unlinked(name)


def test_wall_clock_sources(tmp_path: Path) -> None:
    camera = open_wall_clock_source(_config(64, 48), time.monotonic())
    try:
        assert isinstance(camera, ProcessCamera) and camera.rate_hz == 50.0
    finally:
        camera.close()
    np.save(tmp_path / "frames.npy", np.zeros((2, 8, 8, 3), np.uint8))
    files = open_wall_clock_source(NumpySource(type="numpy", path=tmp_path / "frames.npy"), 0.0)
    assert isinstance(files, NumpyFileSource)
    frame = files.read(0.0)
    assert isinstance(frame, Frame) and frame.image.shape == (8, 8, 3)
