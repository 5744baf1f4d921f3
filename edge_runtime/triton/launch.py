"""Start a real Triton Inference Server (PyTriton, onnxruntime inside) from the main venv.

The server runs in a venv of its own, made from Debian's python3.11 (``make triton-env``): its
Python-backend stub links the system libpython3.11, so it cannot run in this venv.
:class:`TritonServer` writes the spec, starts :mod:`edge_runtime.triton.server` there in a
process group of its own (output to a log file), and waits until Triton says the server and
every model are ready::

    with TritonServer([TritonModelSpec("classifier", Path("model.onnx"))]) as server:
        client = tritonclient.grpc.InferenceServerClient(server.url)

The server script is run by its path (``python -P .../server.py``): it imports only the
standard library, numpy, onnxruntime and pytriton, so any venv with those serves the current
checkout's code, with or without edge-runtime installed in it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import edge_runtime
from edge_runtime.errors import UserError

log = logging.getLogger(__name__)

#: Where the Triton venv's Python is named, when not in the default place.
PYTHON_ENV = "EDGE_RUNTIME_TRITON_PYTHON"
#: The default Triton venv, beside the main one (``make triton-env``).
DEFAULT_VENV = ".venv-triton"
#: How to get a Triton venv, for the error that says there is none.
HOW_TO_MAKE = (f"run `make triton-env` (makes {DEFAULT_VENV}), or install nvidia-pytriton, "
               f"onnxruntime and numpy into a venv of Debian's python3.11 and set {PYTHON_ENV} "
               "to its bin/python")
#: The server script, run by path in the Triton venv.
SERVER_SCRIPT = Path(__file__).with_name("server.py")
#: How long stop() waits after SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 15.0
#: What Triton (PyTriton) takes as a model name.
MODEL_NAME = re.compile(r"[A-Za-z0-9._-]+")
#: How many log lines an error quotes.
LOG_TAIL_LINES = 20
#: Starts tried when PyTriton's model handshake loses its race (``TritonServer.start``).
STARTUP_ATTEMPTS = 2
#: What the log of a server that lost that race says.
HANDSHAKE_RACE = "get_config_from_handshake_server"


class _HandshakeRaceError(RuntimeError):
    """The server exited before it was ready because a model lost PyTriton's handshake."""


@dataclass(frozen=True)
class TritonModelSpec:
    """One model to serve: an ONNX file under a name, as version 1.

    ``max_batch_size`` is the largest batch Triton hands the model (the ONNX model's first axis
    of every input is the batch axis); the dynamic batcher waits up to ``max_queue_delay_us``
    for a batch (0: no waiting, queued requests still batch) and stops early at a preferred
    size. ``instances`` onnxruntime sessions of ``cpu_threads`` intra-op threads each serve it.
    """

    name: str
    onnx: Path
    max_batch_size: int = 8
    max_queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = ()
    instances: int = 1
    cpu_threads: int = 1

    def __post_init__(self) -> None:
        if not MODEL_NAME.fullmatch(self.name):
            raise UserError(f"model name {self.name!r}: Triton takes letters, digits, '.', "
                            "'_' and '-' only")
        for key in ("max_batch_size", "instances", "cpu_threads"):
            if getattr(self, key) < 1:
                raise UserError(f"model {self.name}: {key} must be at least 1, got "
                                f"{getattr(self, key)}")
        if self.max_queue_delay_us < 0:
            raise UserError(f"model {self.name}: max_queue_delay_us must be >= 0, got "
                            f"{self.max_queue_delay_us}")
        if any(size < 1 or size > self.max_batch_size for size in self.preferred_batch_sizes):
            raise UserError(f"model {self.name}: preferred batch sizes "
                            f"{list(self.preferred_batch_sizes)} must lie in 1 .. "
                            f"{self.max_batch_size}")

    def to_json(self) -> dict[str, Any]:
        """The model's entry in the server's spec."""
        entry: dict[str, Any] = {
            "name": self.name, "onnx": str(Path(self.onnx).resolve()),
            "max_batch_size": self.max_batch_size, "max_queue_delay_us": self.max_queue_delay_us,
            "instances": self.instances, "cpu_threads": self.cpu_threads}
        if self.preferred_batch_sizes:
            entry["preferred_batch_sizes"] = list(self.preferred_batch_sizes)
        return entry


def find_triton_python() -> Path:
    """The Triton venv's Python: ``$EDGE_RUNTIME_TRITON_PYTHON``, else ``.venv-triton`` of
    this checkout; a :class:`UserError` saying how to make one when neither exists."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        path = Path(named)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise UserError(f"{PYTHON_ENV}={named} is not an executable Python; {HOW_TO_MAKE}")
    default = Path(edge_runtime.__file__).resolve().parents[1] / DEFAULT_VENV / "bin" / "python"
    if default.is_file():
        return default
    raise UserError(f"no Triton venv: {HOW_TO_MAKE}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS's pick; free until someone else takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


class TritonServer:
    """A Triton Inference Server subprocess serving ``models`` (see the module docstring).

    ``start()`` returns once the server and every model are ready (a :class:`RuntimeError`
    with the log's last lines if the process exits first or ``startup_timeout`` passes);
    ``stop()`` stops it cleanly (SIGTERM, then SIGKILL after 15 s) and removes its files;
    ``kill()`` SIGKILLs its whole process group at once, as a crash would, and keeps the log.
    """

    def __init__(self, models: Sequence[TritonModelSpec], *, python: Path | str | None = None,
                 host: str = "127.0.0.1", grpc_port: int | None = None,
                 http_port: int | None = None, metrics_port: int | None = None,
                 startup_timeout: float = 120.0) -> None:
        if not models:
            raise UserError("no models to serve")
        names = [model.name for model in models]
        if len(set(names)) != len(names):
            raise UserError(f"model names must be unique, got {', '.join(names)}")
        self.models = tuple(models)
        self.python = Path(python) if python is not None else find_triton_python()
        self.host = host
        bind = "0.0.0.0" if host in ("0.0.0.0", "") else host
        self.grpc_port = grpc_port or free_port(bind)
        self.http_port = http_port or free_port(bind)
        self.metrics_port = metrics_port or free_port(bind)
        self.startup_timeout = startup_timeout
        self._dir: Path | None = None
        self._log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The gRPC endpoint as ``tritonclient.grpc`` takes it: ``HOST:PORT``."""
        return f"{client_host(self.host)}:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        """The server process's id (also its process group's), once started."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        """The server's output (Triton's log, PyTriton's, the ready lines)."""
        if self._log_path is None:
            raise RuntimeError("the Triton server has not been started")
        return self._log_path

    def spec(self, workspace: Path | None = None) -> dict[str, Any]:
        """The server's spec (:mod:`edge_runtime.triton.server`)."""
        spec: dict[str, Any] = {
            "host": self.host, "grpc_port": self.grpc_port, "http_port": self.http_port,
            "metrics_port": self.metrics_port, "parent_pid": os.getpid(),
            "models": [model.to_json() for model in self.models]}
        if workspace is not None:
            spec["workspace"] = str(workspace)
        return spec

    def start(self) -> TritonServer:
        """Start the server and wait until it and every model are ready. A server whose
        model failed to load in PyTriton's start-up handshake (a model process that found
        the handshake socket not yet, or no longer, listening: ``ConnectionRefusedError`` in
        ``get_config_from_handshake_server``, seen under load with two instances; a handshake
        failure of the same step is triton-inference-server/pytriton#109) is started
        once more; any other early exit is raised at once."""
        for attempt in range(STARTUP_ATTEMPTS):
            try:
                return self._start_once()
            except _HandshakeRaceError:
                self.stop()
                self._process = None
                if attempt + 1 == STARTUP_ATTEMPTS:
                    raise
                log.warning("Triton's model handshake failed at start-up; starting it again")
        raise AssertionError("unreachable")

    def _start_once(self) -> TritonServer:
        if self._process is not None:
            raise RuntimeError("this Triton server was started already")
        self._dir = Path(tempfile.mkdtemp(prefix="edge-runtime-triton-"))
        self._log_path = self._dir / "server.log"
        spec_path = self._dir / "spec.json"
        spec_path.write_text(json.dumps(self.spec(self._dir / "workspace"), indent=2),
                             encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)  # the main venv's paths are not the Triton venv's
        with self._log_path.open("wb") as log:
            try:
                self._process = subprocess.Popen(
                    [str(self.python), "-P", str(SERVER_SCRIPT), "--spec", str(spec_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True)
            except OSError as exc:
                self.stop()
                raise UserError(f"cannot run the Triton venv's Python {self.python}: "
                                f"{exc.strerror}; {HOW_TO_MAKE}") from None
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self) -> None:
        import tritonclient.grpc as grpcclient

        deadline = time.monotonic() + self.startup_timeout
        lines = [f"serving {model.name} version 1 " for model in self.models]
        client = grpcclient.InferenceServerClient(self.url)
        try:
            while True:
                process = self._process
                assert process is not None
                if process.poll() is not None:
                    failure = _HandshakeRaceError if HANDSHAKE_RACE in self.log_tail(200) \
                        else RuntimeError
                    raise failure(
                        f"the Triton server exited with status {process.returncode} before "
                        f"it was ready; the last lines of {self.log_path}:\n{self.log_tail()}")
                if self._ready(client, lines):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the Triton server was not ready after {self.startup_timeout:g} s; "
                        f"the last lines of {self.log_path}:\n{self.log_tail()}")
                time.sleep(0.2)
        finally:
            client.close()

    def _ready(self, client: Any, lines: Sequence[str]) -> bool:
        from tritonclient.utils import InferenceServerException

        log = self.log_path.read_text(encoding="utf-8", errors="replace")
        if not all(line in log for line in lines):
            return False
        try:
            return bool(client.is_server_ready()) and all(
                client.is_model_ready(model.name) for model in self.models)
        except InferenceServerException:
            return False

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server's log."""
        if self._log_path is None or not self._log_path.is_file():
            return "(no log)"
        text = self._log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the server (SIGTERM; SIGKILL to its group after 15 s) and remove its files.
        Safe to call again, and after :meth:`kill`."""
        process = self._process
        if process is not None:
            if process.poll() is None:
                # The server process stops Triton and its model processes in order; a signal
                # to the whole group would reach tritonserver and the stubs at the same time.
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=STOP_TIMEOUT_S)
            self._kill_group(process)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kill(self) -> None:
        """SIGKILL the server's whole process group now (a crash, for tests); the log stays
        until :meth:`stop`."""
        if self._process is not None:
            self._kill_group(self._process)
        if self._dir is not None:
            shutil.rmtree(self._dir / "workspace", ignore_errors=True)

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
