"""Output sinks: JSON lines on disk, the log, and MCAP (``mcap_sink.py``).

The JSON-lines sink writes each record as one complete line to ``PATH.part`` and flushes it, so a
crash loses at most the line being written; closing syncs the file and renames it to ``PATH``, so
a file under the final name is always complete.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

from edge_runtime.config.stages import JsonlSink, LogSink, McapSink, SinkConfig
from edge_runtime.errors import UserError
from edge_runtime.fileio import PartFile
from edge_runtime.pipelines.output import Output

log = logging.getLogger("edge_runtime.sink")

class Sink(Protocol):
    def write(self, output: Output) -> None: ...

    def flush(self) -> None:
        """Make what was written durable (the runtime calls it on deactivate)."""

    def close(self) -> None: ...


def recording(path: Path, binary: bool = False) -> PartFile:
    """The ``PATH.part`` file of a sink; a path that cannot be written is the user's to fix
    (a directory is refused now: the ``.part`` file would be written, and the rename onto the
    directory fail only when the run ends, losing the recording)."""
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a directory (give a file path)",
                        key="sinks.path")
    try:
        return PartFile(path, binary)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}", key="sinks.path") from None


class JsonLinesSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = recording(path)
        self.records = 0

    def write(self, output: Output) -> None:
        if self._file.closed:
            raise RuntimeError(f"sink {self.path} is closed")
        self._file.handle.write(json.dumps(output.to_record(), separators=(",", ":")) + "\n")
        self._file.handle.flush()
        self.records += 1

    def flush(self) -> None:
        self._file.sync()

    def close(self) -> None:
        self._file.commit()


class LoggingSink:
    def __init__(self, pipeline: str, every: int) -> None:
        self.pipeline = pipeline
        self.every = every
        self.count = 0

    def write(self, output: Output) -> None:
        self.count += 1
        if self.count % self.every == 0:
            log.info("%s frame %d latency %.1f ms: %s", self.pipeline, output.frame_index,
                     output.latency_s * 1e3, output.result.to_record())

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_sink(config: SinkConfig, pipeline: str) -> Sink:
    if isinstance(config, JsonlSink):
        return JsonLinesSink(config.path)
    if isinstance(config, McapSink):
        from edge_runtime.pipelines.mcap_sink import McapSink as McapWriter

        return McapWriter(config.path)
    assert isinstance(config, LogSink)
    return LoggingSink(pipeline, config.every)
