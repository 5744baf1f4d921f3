"""The test side of a live ROS 2 graph: a plain rclpy node in the test process, and the
runtime node as a separate process started the way ``ros2 launch`` starts it.

Every test process uses a ROS domain of its own (``ROS_DOMAIN_ID``) and localhost-only
discovery, so parallel runs on one machine never hear each other.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import rclpy
import yaml
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile

REPO = Path(__file__).resolve().parents[2]
MsgT = TypeVar("MsgT")


def domain_id() -> int:
    """A domain of this process's own: 1..100 (all valid on Linux, away from 0)."""
    return 1 + os.getpid() % 100


def ros_env(domain: int, cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                "EDGE_RUNTIME_CACHE": str(cache), "PYTHONUNBUFFERED": "1",
                "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
                "PYTHONPATH": os.pathsep.join([str(REPO / "ros2_nodes"), str(REPO),
                                               env.get("PYTHONPATH", "")])})
    return env


class Collector(Generic[MsgT]):
    """Messages received on one topic, with a wait."""

    def __init__(self) -> None:
        self.messages: list[MsgT] = []
        self._cond = threading.Condition()

    def __call__(self, msg: MsgT) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float,
                 where: Callable[[MsgT], bool] = lambda _: True) -> list[MsgT]:
        """At least ``count`` messages passing ``where`` (all of them), or AssertionError."""
        def matching() -> list[MsgT]:
            return [m for m in self.messages if where(m)]

        with self._cond:
            self._cond.wait_for(lambda: len(matching()) >= count, timeout)
            found = matching()
        assert len(found) >= count, f"got {len(found)} of {count} messages in {timeout} s"
        return found


class Graph:
    """A test node on its own context and domain, spun on a background thread."""

    def __init__(self, domain: int) -> None:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node("edge_runtime_test", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                if not self.context.ok():
                    return
                raise

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 60.0) -> Any:
        client: Any = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"no service {name}"
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert future.done(), f"{name} did not answer in {timeout} s"
            return future.result()
        finally:
            self.node.destroy_client(client)

    def collect(self, msg_type: type[MsgT], topic: str,
                qos: QoSProfile | int = 10) -> Collector[MsgT]:
        collector: Collector[MsgT] = Collector()
        self.node.create_subscription(msg_type, topic, collector, qos)
        return collector

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while publisher.get_subscription_count() < count:
            assert time.monotonic() < deadline, f"nobody subscribed to {publisher.topic_name}"
            time.sleep(0.05)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5)


class NodeProcess:
    """The runtime node in a process of its own: the ament entry point with the arguments
    ``ros2 launch`` gives a LifecycleNode (``--ros-args -r __node:= -r __ns:=
    --params-file``). Its output goes to a log file, shown when a test fails."""

    def __init__(self, params: dict[str, Any], env: dict[str, str], workdir: Path,
                 namespace: str = "/", extra: Sequence[str] = ()) -> None:
        self.params_file = workdir / "launch_params.yaml"
        self.params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
        self.log_path = workdir / "node.log"
        self._log = self.log_path.open("w")
        command = [sys.executable, "-m", "edge_runtime_ros.runtime_node", "--ros-args",
                   "-r", "__node:=edge_runtime", "-r", f"__ns:={namespace}",
                   "--params-file", str(self.params_file), *extra]
        self.process = subprocess.Popen(command, env=env, cwd=workdir, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT, as launch does first; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


@contextmanager
def running(node: NodeProcess) -> Iterator[NodeProcess]:
    try:
        yield node
    except BaseException:
        sys.stderr.write(f"--- node log ---\n{node.log()}\n")
        raise
    finally:
        node.stop()
