"""The MCAP sink: a pipeline's outputs as ROS 2 messages in an MCAP file, without ROS.

Each output is written on ``/<pipeline>/<detections|classification|mask>`` as the message the
ROS 2 node would publish (the same conversions, :mod:`edge_runtime.pipelines.messages`, on
plain classes), CDR-encoded with its ``ros2msg`` schema by ``mcap-ros2-support``, so
``ros2 bag``, Foxglove and the mcap ROS 2 decoder read it. Log and publish times are the wall
clock at writing, as a recorder's receive time is.

As with the JSON-lines sink, the file is ``PATH.part`` until the sink closes (the MCAP summary
and footer are written then) and is renamed to ``PATH``; a file under the final name is always
complete. A recording cut short by a crash stays in ``PATH.part`` (``mcap recover`` rebuilds
its index).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edge_runtime.errors import UserError
from edge_runtime.pipelines.messages import output_messages
from edge_runtime.pipelines.output import Output
from edge_runtime.pipelines.ros_types import plain_types
from edge_runtime.pipelines.schemas import schema_text
from edge_runtime.pipelines.sinks import recording

#: Topic suffix -> ROS 2 type of the message written there.
MESSAGE_TYPES = {"detections": "vision_msgs/msg/Detection2DArray",
                 "classification": "vision_msgs/msg/Classification",
                 "mask": "sensor_msgs/msg/Image", "command": "std_msgs/msg/String"}
TYPES = plain_types()


class McapSink:
    def __init__(self, path: Path) -> None:
        try:
            from mcap_ros2.writer import Writer
        except ImportError:
            raise UserError("the mcap sink needs the mcap libraries: pip install "
                            "'edge-runtime[mcap]'", key="sinks.type") from None
        self.path = path
        self._file = recording(path, binary=True)
        self._writer = Writer(self._file.handle)
        self._schemas: dict[str, Any] = {}
        self.messages = 0

    def write(self, output: Output) -> None:
        if self._file.closed:
            raise RuntimeError(f"sink {self.path} is closed")
        now = time.time_ns()
        for suffix, message in output_messages(TYPES, output):
            type_name = MESSAGE_TYPES[suffix]
            schema = self._schemas.get(type_name)
            if schema is None:
                schema = self._writer.register_msgdef(type_name, schema_text(type_name))
                self._schemas[type_name] = schema
            self._writer.write_message(f"/{output.pipeline}/{suffix}", schema, message,
                                       log_time=now, publish_time=now,
                                       sequence=output.frame_index)
            self.messages += 1

    def flush(self) -> None:
        self._file.sync()

    def close(self) -> None:
        if not self._file.closed:
            self._writer.finish()  # type: ignore[no-untyped-call]  # mcap_ros2 leaves it untyped
        self._file.commit()
