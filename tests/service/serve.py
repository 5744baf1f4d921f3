"""``edge-runtime serve`` as a subprocess with a NOTIFY_SOCKET of the test's own: what systemd
would see (every sd_notify datagram, with its arrival time), plus scrapes of its endpoints."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

HOOKS = Path(__file__).with_name("hooks.py")

#: Three pipelines on the tiny classifier: a critical one with a sink, a steady one on the
#: GPU, and a victim on DLA0 (its own lane, so a hang there leaves the GPU's pipelines alone).
SET = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: critical
        source: {type: synthetic_camera, width: 64, height: 48, fps: 20, seed: 1}
        engine: tiny.yaml
        postprocess: {type: classification, top_k: 1}
        rate_hz: 20
        priority: critical
        deadline_ms: 250
        sinks: [{type: jsonl, path: out/critical.jsonl}]
      - name: steady
        source: {type: synthetic_camera, width: 64, height: 48, fps: 10, seed: 2}
        engine: tiny.yaml
        postprocess: {type: classification, top_k: 1}
        rate_hz: 10
        priority: high
      - name: victim
        source: {type: synthetic_camera, width: 64, height: 48, fps: 10, seed: 3}
        engine: tiny_dla.yaml
        postprocess: {type: classification, top_k: 1}
        rate_hz: 10
        priority: best_effort
"""
DLA_RECIPE = """
    onnx: tiny.onnx
    precision: int8
    target: {device: dla0, gpu_fallback: true}
    mock: {outputs: onnxruntime}
"""


def write_set(directory: Path, text: str = SET) -> Path:
    (directory / "tiny_dla.yaml").write_text(textwrap.dedent(DLA_RECIPE).lstrip(),
                                             encoding="utf-8")
    path = directory / "serve.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Notification:
    at: float
    fields: dict[str, str]


class ServeProcess:
    """One ``serve`` run; ``close()`` kills it if the test did not stop it."""

    def __init__(self, pipelines: Path, workdir: Path, *, watchdog_s: float | None = 1.0,
                 hook: str | None = None, extra: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.notifications: list[Notification] = []
        self._socket_path = workdir / "notify.sock"
        self._socket_path.unlink(missing_ok=True)  # a previous run's, in the same directory
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self._socket_path))
        self._socket.settimeout(0.2)
        self._listening = True
        self._listener = threading.Thread(target=self._listen, daemon=True)
        self._listener.start()
        child_env = {**os.environ, "NOTIFY_SOCKET": str(self._socket_path),
                     "PYTHONUNBUFFERED": "1", **(env or {})}
        child_env.pop("WATCHDOG_PID", None)
        if watchdog_s is not None:
            child_env["WATCHDOG_USEC"] = str(int(watchdog_s * 1e6))
        argv = [sys.executable, "-m", "edge_runtime", "serve", str(pipelines),
                "--metrics", f"127.0.0.1:{self.port}", "--cache-dir", str(workdir / "cache"),
                *extra]
        if hook is not None:
            argv += ["--fault-hook", f"{HOOKS}:{hook}"]
        self.log_path = workdir / "serve.log"
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, cwd=workdir, env=child_env, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    # --- what systemd sees -------------------------------------------------------------------

    def _listen(self) -> None:
        while self._listening:
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.notifications.append(Notification(time.monotonic(), fields))

    def sent(self, key: str, since: float = 0.0) -> list[Notification]:
        return [n for n in list(self.notifications) if key in n.fields and n.at >= since]

    def wait_for(self, key: str, since: float = 0.0, timeout: float = 60.0) -> Notification:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent(key, since)
            if found:
                return found[0]
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}) before "
                                     f"{key}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"no {key} within {timeout} s:\n{self.log()}")

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"{what} did not happen within {timeout} s:\n{self.log()}")

    # --- its endpoints -----------------------------------------------------------------------

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics: (name, sorted labels) -> value."""
        code, text = self.get("/metrics")
        assert code == 200, text
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}

    def frames(self, pipeline: str) -> float:
        return self.metrics()[("edge_runtime_frames_total", (("pipeline", pipeline),))]

    # --- control -----------------------------------------------------------------------------

    def signal(self, signum: signal.Signals) -> float:
        sent_at = time.monotonic()
        self.process.send_signal(signum)
        return sent_at

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._listening = False
        self._listener.join(2)
        self._socket.close()
        self._log.close()
