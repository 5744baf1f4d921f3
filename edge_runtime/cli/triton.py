"""``edge-runtime triton serve-models ENGINE...``: a real Triton Inference Server (PyTriton,
onnxruntime inside) serving recipes' or ONNX files' models, in the foreground until SIGINT or
SIGTERM (:mod:`edge_runtime.triton`; docs/scale-out.md)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from edge_runtime.errors import UserError
from edge_runtime.triton.launch import TritonServer
from edge_runtime.triton.models import model_specs

#: How often the foreground loop checks that the server is still running.
CHECK_PERIOD_S = 1.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "triton", help="a Triton Inference Server for the triton backend (PyTriton)",
        description="A real Triton Inference Server (PyTriton's tritonserver, onnxruntime "
                    "inside) in the Triton venv (`make triton-env`), for the triton backend's "
                    "tests, benchmarks and a fleet box.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve-models", help="serve engines' models until SIGINT or SIGTERM",
        description="Serve each ENGINE (a recipe YAML, engines/*.yaml, or an ONNX file) as a "
                    "Triton model, version 1, with a dynamic batcher; print each model's URL, "
                    "stay in the foreground until SIGINT or SIGTERM, then stop the server and "
                    "exit 0.")
    serve.add_argument("engines", nargs="+", type=Path, metavar="ENGINE",
                       help="recipe YAML or ONNX file")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address the endpoints listen on (default: %(default)s; 0.0.0.0 "
                            "on a fleet box)")
    serve.add_argument("--grpc-port", type=int, default=8001,
                       help="gRPC port (default: %(default)s; 0 picks a free one)")
    serve.add_argument("--http-port", type=int, default=8000,
                       help="HTTP port (default: %(default)s; 0 picks a free one)")
    serve.add_argument("--metrics-port", type=int, default=8002,
                       help="Prometheus metrics port (default: %(default)s; 0 picks a free one)")
    serve.add_argument("--max-queue-delay-us", type=int, default=2000, metavar="US",
                       help="how long the dynamic batcher waits to fill a batch (default: "
                            "%(default)s; 0: no waiting, queued requests still batch)")
    serve.add_argument("--max-batch", type=int, default=None, metavar="N",
                       help="largest batch of every model (default: the recipe's, from its "
                            "max_batch and input shapes; 8 for an ONNX file)")
    serve.add_argument("--instances", type=int, default=1, metavar="N",
                       help="onnxruntime sessions per model (default: %(default)s)")
    serve.add_argument("--cpu-threads", type=int, default=1, metavar="N",
                       help="intra-op threads per session (default: %(default)s)")
    serve.add_argument("--python", type=Path, default=None,
                       help="the Triton venv's Python (default: $EDGE_RUNTIME_TRITON_PYTHON, "
                            "else .venv-triton/bin/python)")
    serve.add_argument("--startup-timeout", type=float, default=120.0, metavar="S",
                       help="how long to wait for every model to be ready (default: "
                            "%(default)s)")
    serve.set_defaults(handler=handle_serve_models)


def _port(value: int, flag: str) -> int | None:
    if not 0 <= value <= 65535:
        raise UserError(f"{flag} must be a port (1 .. 65535, or 0 for a free one), got {value}")
    return value or None


def handle_serve_models(args: argparse.Namespace) -> int:
    if args.max_queue_delay_us < 0:
        raise UserError(f"--max-queue-delay-us must be >= 0, got {args.max_queue_delay_us}")
    if args.max_batch is not None and args.max_batch < 1:
        raise UserError(f"--max-batch must be at least 1, got {args.max_batch}")
    specs = model_specs(args.engines, max_queue_delay_us=args.max_queue_delay_us,
                        max_batch_size=args.max_batch, instances=args.instances,
                        cpu_threads=args.cpu_threads)
    server = TritonServer(specs, python=args.python, host=args.host,
                          grpc_port=_port(args.grpc_port, "--grpc-port"),
                          http_port=_port(args.http_port, "--http-port"),
                          metrics_port=_port(args.metrics_port, "--metrics-port"),
                          startup_timeout=args.startup_timeout)
    stop = threading.Event()
    ready = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        stop.set()
        if not ready.is_set():  # still starting: abandon the start (start() kills the server)
            raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except RuntimeError as exc:  # the server failed to start: its log says why
            sys.stderr.write(f"{exc}\n")
            return 1
        ready.set()
        for spec in specs:
            sys.stdout.write(
                f"serving {spec.name} version 1 at grpc://{server.host}:{server.grpc_port} "
                f"(max batch {spec.max_batch_size}, queue delay {spec.max_queue_delay_us} us)"
                "\n")
        sys.stdout.write(
            f"HTTP at http://{server.host}:{server.http_port}, metrics at "
            f"http://{server.host}:{server.metrics_port}/metrics; log: {server.log_path}; "
            "SIGINT (Ctrl-C) or SIGTERM stops\n")
        sys.stdout.flush()
        while not stop.wait(CHECK_PERIOD_S):
            if not server.is_running():
                sys.stderr.write(f"the Triton server exited; the last lines of "
                                 f"{server.log_path}:\n{server.log_tail()}\n")
                return 1
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
