"""Output sinks: JSON lines on disk, the log, and MCAP (``mcap_sink.py``).

The JSON-lines sink writes each record as one complete line to ``PATH.part`` and flushes it, so a
crash loses at most the line being written; closing syncs the file and renames it to ``PATH``, so
a file under the final name is always complete.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Protocol, TextIO

from edge_runtime.config.stages import JsonlSink, LogSink, McapSink, SinkConfig
from edge_runtime.errors import UserError
from edge_runtime.fileio import fsync_dir
from edge_runtime.pipelines.output import Output

log = logging.getLogger("edge_runtime.sink")

class Sink(Protocol):
    def write(self, output: Output) -> None: ...

    def flush(self) -> None:
        """Make what was written durable (the runtime calls it on deactivate)."""

    def close(self) -> None: ...


class JsonLinesSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle: TextIO | None = self.partial.open("w", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}", key="sinks.path") from None
        self.records = 0

    def write(self, output: Output) -> None:
        if self._handle is None:
            raise RuntimeError(f"sink {self.path} is closed")
        self._handle.write(json.dumps(output.to_record(), separators=(",", ":")) + "\n")
        self._handle.flush()
        self.records += 1

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is None:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        self.partial.replace(self.path)
        fsync_dir(self.path.parent)


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
