"""A real Triton Inference Server serving ONNX models through PyTriton, with onnxruntime inside.

Runs in the Triton venv (``make triton-env``; ``tools/triton_env.sh``), not the main one::

    python -m edge_runtime.triton.server --spec SPEC.json

(:class:`~edge_runtime.triton.launch.TritonServer` runs this file by its path instead,
``python -P .../server.py``, so a venv without edge-runtime in it serves it as well.)

The spec (written by :class:`edge_runtime.triton.launch.TritonServer`)::

    {"host": "127.0.0.1", "grpc_port": 8001, "http_port": 8000, "metrics_port": 8002,
     "workspace": "/tmp/edge-runtime-triton-XXXX/workspace", "parent_pid": 4242,
     "models": [{"name": "detector", "onnx": "/path/model.onnx", "max_batch_size": 8,
                 "max_queue_delay_us": 2000, "preferred_batch_sizes": [4, 8],
                 "instances": 1, "cpu_threads": 1}]}

``host`` (default 127.0.0.1; "0.0.0.0" on a fleet box) is where the gRPC, HTTP and metrics
endpoints listen; ``workspace`` (optional, must not exist yet) is where PyTriton copies the
``tritonserver`` binaries and writes the model store, removed on a clean stop (default: a fresh
directory under ~/.cache/pytriton); with ``parent_pid`` (optional) the server stops when that
process, its launcher, is gone (killed with no chance to stop it), rather than serving on as an
orphan. ``preferred_batch_sizes``, ``instances`` and ``cpu_threads`` are optional.

Each model is served as version 1 by Triton's Python backend: PyTriton binds one onnxruntime
CPU session per instance (``intra_op_num_threads = cpu_threads``). Inputs and outputs are
declared from the ONNX graph: names, dtypes, and the shape without the first axis, which is the
batch axis of every input and output (``max_batch_size`` >= 1 always, so a client sends
``[n, ...]`` with ``1 <= n <= max_batch_size``); other dynamic axes are -1.

Batching. Triton's dynamic batcher gathers requests for up to ``max_queue_delay_us``
microseconds, or until a preferred batch size is reached (Triton's default: the max batch), and
hands them to one call. With ``max_queue_delay_us: 0`` the dynamic batcher stays on without a
delay: requests already queued when an instance frees up still run as one batch, but none waits
for others (Triton's own meaning of a zero delay). ``max_batch_size: 1`` turns batching off in
effect.

Shapes in a batch. A batch holds requests of one shape only: PyTriton's ``@batch`` concatenates
the requests of one call along the batch axis, which needs every other axis equal. Triton's
dynamic batcher gathers only requests whose shapes are equal (ragged batching is not enabled),
and the served function splits a call by shape before ``@batch`` all the same, running each
group as its own batch. So requests of different sequence lengths (the command model's
``length``) are served exactly and never padded (a model without an attention mask would
compute on the padding); they just do not share a batch. The image models have fixed shapes
and always batch together.

Endpoints. Health, metadata, model config and inference are open, and so are the per-model
statistics (inference and execution counts: how well requests were batched). PyTriton's
access token still guards shared memory, the model repository (load / unload), trace and
logging; the token is never written out, so those stay closed to every client.

On SIGTERM or SIGINT the server stops Triton (``Triton.stop()``) and exits 0; if Triton or a
model's proxy dies, or the launcher does, it stops and exits 1. Imports: the standard library,
numpy, onnxruntime, and pytriton inside the functions that need it (so the module also imports,
unused, in the main venv).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

LOG = logging.getLogger("edge_runtime.triton.server")

#: ONNX Runtime's element types (``NodeArg.type``) -> numpy. Strings are not served.
ORT_DTYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}

#: The endpoints PyTriton's access token guards: its default list less ``statistics``.
RESTRICTED_ENDPOINTS = ["shared-memory", "model-repository", "trace", "logging"]

#: How often the main thread checks that Triton and the model proxies are still alive.
MONITOR_PERIOD_S = 1.0


class SpecError(ValueError):
    """A spec the server cannot serve: printed as one line, exit status 2."""


@dataclass(frozen=True)
class ModelEntry:
    """One model of the spec (the fields of :class:`edge_runtime.triton.launch.TritonModelSpec`)."""

    name: str
    onnx: Path
    max_batch_size: int
    max_queue_delay_us: int
    preferred_batch_sizes: tuple[int, ...] = ()
    instances: int = 1
    cpu_threads: int = 1


@dataclass(frozen=True)
class ServerSpec:
    grpc_port: int
    http_port: int
    metrics_port: int
    models: tuple[ModelEntry, ...]
    host: str = "127.0.0.1"
    workspace: Path | None = None
    parent_pid: int | None = None


@dataclass(frozen=True)
class TensorDecl:
    """A model input or output as Triton sees it: the shape without the batch axis."""

    name: str
    dtype: type[np.generic]
    shape: tuple[int, ...]


@dataclass
class ModelIO:
    inputs: list[TensorDecl] = field(default_factory=list)
    outputs: list[TensorDecl] = field(default_factory=list)


def _int(entry: Mapping[str, Any], key: str, where: str, *, default: int | None = None,
         minimum: int = 0) -> int:
    value = entry.get(key, default)
    if value is None:
        raise SpecError(f"{where}: '{key}' is missing")
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SpecError(f"{where}: '{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def parse_spec(data: Any) -> ServerSpec:
    """The spec from its JSON value; :class:`SpecError` names the first wrong field."""
    if not isinstance(data, dict):
        raise SpecError("the spec must be a JSON object")
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise SpecError("'models' must be a non-empty list")
    entries = []
    for index, raw in enumerate(models):
        where = f"models[{index}]"
        if not isinstance(raw, dict):
            raise SpecError(f"{where} must be an object")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where}: 'name' must be a non-empty string")
        onnx = raw.get("onnx")
        if not isinstance(onnx, str) or not Path(onnx).is_file():
            raise SpecError(f"{where}: 'onnx' must name an ONNX file, got {onnx!r}")
        preferred = raw.get("preferred_batch_sizes") or []
        if not isinstance(preferred, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in preferred):
            raise SpecError(f"{where}: 'preferred_batch_sizes' must be a list of integers >= 1")
        entries.append(ModelEntry(
            name=name, onnx=Path(onnx),
            max_batch_size=_int(raw, "max_batch_size", where, minimum=1),
            max_queue_delay_us=_int(raw, "max_queue_delay_us", where, default=0),
            preferred_batch_sizes=tuple(preferred),
            instances=_int(raw, "instances", where, default=1, minimum=1),
            cpu_threads=_int(raw, "cpu_threads", where, default=1, minimum=1)))
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise SpecError(f"model names must be unique, got {names}")
    host = data.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise SpecError("'host' must be an address string")
    workspace = data.get("workspace")
    if workspace is not None and (not isinstance(workspace, str) or Path(workspace).exists()):
        raise SpecError(f"'workspace' must be a path that does not exist yet, got {workspace!r}")
    parent = data.get("parent_pid")
    if parent is not None and (not isinstance(parent, int) or isinstance(parent, bool)
                               or parent < 1):
        raise SpecError(f"'parent_pid' must be a process id, got {parent!r}")
    return ServerSpec(grpc_port=_int(data, "grpc_port", "spec", minimum=1),
                      http_port=_int(data, "http_port", "spec", minimum=1),
                      metrics_port=_int(data, "metrics_port", "spec", minimum=1),
                      models=tuple(entries), host=host,
                      workspace=Path(workspace) if workspace is not None else None,
                      parent_pid=parent)


def make_session(onnx: Path, cpu_threads: int) -> Any:
    """An onnxruntime CPU session with ``cpu_threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx), sess_options=options,
                                providers=["CPUExecutionProvider"])


def _decl(name: str, where: str, ort_type: str, shape: Sequence[Any]) -> TensorDecl:
    dtype = ORT_DTYPES.get(ort_type)
    if dtype is None:
        raise SpecError(f"{where} '{name}' has type {ort_type}, which is not served "
                        f"(served: {', '.join(sorted(ORT_DTYPES))})")
    if not shape:
        raise SpecError(f"{where} '{name}' is a scalar; every served tensor needs a first "
                        "(batch) axis")
    return TensorDecl(name, dtype, tuple(d if isinstance(d, int) and d > 0 else -1
                                         for d in shape[1:]))


def model_io(session: Any, entry: ModelEntry) -> ModelIO:
    """Inputs and outputs of the session's graph, as Triton declares them (batch axis off).
    A fixed first input axis must allow the model's ``max_batch_size``."""
    io = ModelIO()
    for arg in session.get_inputs():
        first = arg.shape[0] if arg.shape else None
        if isinstance(first, int) and first > 0 and first < entry.max_batch_size:
            raise SpecError(f"model '{entry.name}': input '{arg.name}' has a fixed first axis "
                            f"of {first}, below max_batch_size {entry.max_batch_size}")
        io.inputs.append(_decl(arg.name, f"model '{entry.name}': input", arg.type, arg.shape))
    for arg in session.get_outputs():
        io.outputs.append(_decl(arg.name, f"model '{entry.name}': output", arg.type, arg.shape))
    return io


def shape_key(request: Mapping[str, np.ndarray]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """What must be equal for requests to be concatenated: every input's non-batch shape."""
    return tuple(sorted((name, tuple(value.shape[1:])) for name, value in request.items()))


def infer_function(session: Any, io: ModelIO) -> Callable[[list[Any]], list[dict[str, Any]]]:
    """The callable PyTriton runs for one instance: the requests of one dynamic batch, grouped
    by shape, each group concatenated by ``@batch`` and run as one onnxruntime call."""
    from pytriton.decorators import batch

    output_names = [t.name for t in io.outputs]
    dtypes = {t.name: t.dtype for t in io.inputs}

    def run(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        feed = {name: np.ascontiguousarray(value, dtype=dtypes[name])
                for name, value in inputs.items()}
        results = session.run(output_names, feed)
        return dict(zip(output_names, results, strict=True))

    run_batch = batch(run)  # requests -> run(**concatenated inputs) -> a response per request

    def infer(requests: list[Any]) -> list[dict[str, Any]]:
        groups: dict[tuple[tuple[str, tuple[int, ...]], ...], list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(shape_key(request), []).append(index)
        if len(groups) == 1:
            return list(run_batch(requests))
        LOG.debug("a batch of %d requests of %d shapes: run as %d batches", len(requests),
                  len(groups), len(groups))
        responses: list[dict[str, Any]] = [{} for _ in requests]
        for indices in groups.values():
            for index, response in zip(indices, run_batch([requests[i] for i in indices]),
                                       strict=True):
                responses[index] = response
        return responses

    return infer


def triton_config(spec: ServerSpec) -> Any:
    from pytriton.triton import TritonConfig

    return TritonConfig(
        grpc_address=spec.host, grpc_port=spec.grpc_port,
        http_address=spec.host, http_port=spec.http_port,
        metrics_address=spec.host, metrics_port=spec.metrics_port,
        allow_gpu_metrics=False, exit_timeout_secs=5)


def bind_model(triton: Any, entry: ModelEntry) -> ModelIO:
    """Bind one model: a session and an infer function per instance, a dynamic batcher."""
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor

    sessions = [make_session(entry.onnx, entry.cpu_threads) for _ in range(entry.instances)]
    io = model_io(sessions[0], entry)
    batcher = DynamicBatcher(max_queue_delay_microseconds=entry.max_queue_delay_us,
                             preferred_batch_size=list(entry.preferred_batch_sizes) or None)
    triton.bind(
        model_name=entry.name,
        model_version=1,
        infer_func=[infer_function(session, io) for session in sessions],
        inputs=[Tensor(name=t.name, dtype=t.dtype, shape=t.shape) for t in io.inputs],
        outputs=[Tensor(name=t.name, dtype=t.dtype, shape=t.shape) for t in io.outputs],
        config=ModelConfig(batching=True, max_batch_size=entry.max_batch_size,
                           batcher=batcher),
        strict=False,
    )
    return io


def ready_line(entry: ModelEntry, host: str, grpc_port: int) -> str:
    """The line printed (and flushed) when a model is ready."""
    return (f"serving {entry.name} version 1 at grpc://{host}:{grpc_port} "
            f"(max batch {entry.max_batch_size}, queue delay {entry.max_queue_delay_us} us)")


def serve(spec: ServerSpec) -> int:
    """Start Triton with every model of ``spec``, print the ready lines, serve until SIGTERM
    or SIGINT (0) or until Triton dies (1)."""
    from pytriton.triton import Triton, TritonSecurityConfig

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        LOG.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    triton = Triton(config=triton_config(spec), workspace=spec.workspace,
                    security_config=TritonSecurityConfig(
                        restricted_endpoints=list(RESTRICTED_ENDPOINTS)))
    try:
        for entry in spec.models:
            bind_model(triton, entry)
        triton.run()
        for entry in spec.models:
            sys.stdout.write(ready_line(entry, spec.host, spec.grpc_port) + "\n")
        sys.stdout.flush()
        while not stop.wait(MONITOR_PERIOD_S):
            if not triton.is_alive():
                LOG.error("Triton or a model's proxy died: exiting")
                return 1
            if spec.parent_pid is not None and os.getppid() != spec.parent_pid:
                LOG.error("the launcher (pid %d) is gone: stopping", spec.parent_pid)
                return 1
        return 0
    finally:
        triton.stop()


def libpython_problem() -> str | None:
    """Why PyTriton's Python-backend stub cannot run this interpreter's models, if it cannot:
    the stub links the system libpython3.11 (the one the dynamic loader finds), so this
    interpreter must be a 3.11 built on that very library (Debian's /usr/bin/python3.11).
    Under another 3.11 every model fails to load with "'_thread.RLock' object has no
    attribute '_recursion_count'"; this says so first, in one line."""
    import shutil
    import subprocess
    import sysconfig

    if sys.version_info[:2] != (3, 11):
        return (f"{sys.executable} is Python {sys.version.split()[0]}; PyTriton's stub needs "
                "Debian's python3.11")
    ldconfig = shutil.which("ldconfig") or shutil.which("ldconfig", path="/sbin:/usr/sbin")
    if ldconfig is None:
        return None  # cannot tell; the model load says it if so
    listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True,
                             check=False).stdout
    system = next((line.partition(" => ")[2] for line in listing.splitlines()
                   if line.strip().startswith("libpython3.11.so.1.0 ")), None)
    mine = Path(str(sysconfig.get_config_var("LIBDIR")),
                str(sysconfig.get_config_var("INSTSONAME")))
    if system is None or Path(system).resolve() != mine.resolve():
        return (f"this venv's Python ({sys.executable}, libpython {mine}) is not built on the "
                f"system libpython3.11 ({system or 'none found'}) that PyTriton's stub links; "
                "make the venv from Debian's /usr/bin/python3.11 (make triton-env)")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime.triton.server",
        description="Serve ONNX models with onnxruntime in a Triton Inference Server "
                    "(PyTriton); run in the Triton venv.")
    parser.add_argument("--spec", type=Path, required=True, help="the server's spec (JSON)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        stream=sys.stdout)
    problem = libpython_problem()
    if problem is not None:
        sys.stderr.write(f"edge_runtime.triton.server: {problem}\n")
        return 2
    try:
        spec = parse_spec(json.loads(args.spec.read_text(encoding="utf-8")))
        return serve(spec)
    except (OSError, json.JSONDecodeError, SpecError) as exc:
        sys.stderr.write(f"edge_runtime.triton.server: {args.spec}: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
