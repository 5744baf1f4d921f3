"""Atomic file writes and hashing.

A robot loses power at any moment. Everything edge-runtime writes that a later run reads (engine
plans, manifests, summaries) goes to a temporary file in the same directory, is flushed to disk,
and is renamed over the target, so a reader sees the old file or the new one, never half of one.
Recordings (the sinks) grow as ``PATH.part`` and take their name when complete (:class:`PartFile`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Persist a rename: the directory entry must reach the disk too."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class PartFile:
    """A recording written as ``PATH.part`` and renamed to ``PATH`` once complete, so a file
    under the final name is always whole (a crash leaves only the ``.part``). The sinks
    write through :attr:`handle`; :meth:`sync` makes what was written durable."""

    def __init__(self, path: Path, binary: bool = False) -> None:
        # absolute now: a relative path means the working directory at open, and the rename
        # at the end must not land elsewhere if the host changes directory meanwhile
        path = path.absolute()
        self.path = path
        self.partial = path.with_name(path.name + ".part")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle: IO[Any] = (self.partial.open("wb") if binary
                                else self.partial.open("w", encoding="utf-8"))
        self.closed = False

    def sync(self) -> None:
        if not self.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())

    def commit(self) -> None:
        """Sync, close and rename to the final name (idempotent)."""
        if self.closed:
            return
        self.sync()
        self.handle.close()
        self.closed = True
        self.partial.replace(self.path)
        fsync_dir(self.path.parent)
