"""The service's HTTP endpoints on one port: ``/metrics`` (Prometheus text format),
``/healthz`` (the process is alive and its loop turning) and ``/readyz`` (every pipeline that
has not failed is running). 200 or 503 with a one-line reason, as Kubernetes-style probes and
a robot's supervisor expect.

Bound to 127.0.0.1 unless told otherwise: the metrics say what a robot sees and does, which is
nobody else's business on a shared network. The standard library's threading server is enough
for a scraper every few seconds; each request runs on its own thread, off the runtime's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edge_runtime.errors import UserError
from edge_runtime.runtime.health import Verdict

log = logging.getLogger("edge_runtime.service")

DEFAULT_ADDRESS = "127.0.0.1:9477"

Probe = Callable[[], Verdict]


def parse_address(text: str, flag: str = "--metrics") -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` means 127.0.0.1; port 0 picks a free one)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UserError(f"'{text}' is not HOST:PORT (e.g. {DEFAULT_ADDRESS}, or off)", key=flag)
    return host.strip("[]") or "127.0.0.1", int(port)


class EndpointServer:
    """``/metrics``, ``/healthz`` and ``/readyz``, served from a daemon thread."""

    def __init__(self, address: tuple[str, int], registry: CollectorRegistry, healthy: Probe,
                 ready: Probe) -> None:
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(registry)),
            "/healthz": lambda: _probe(healthy),
            "/readyz": lambda: _probe(ready),
        }
        try:
            self._server = ThreadingHTTPServer(address, _handler(routes))
        except OSError as exc:
            raise UserError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror} "
                            "(pick another port, or --metrics off)", key="--metrics") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http",
                                        daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _probe(check: Probe) -> tuple[int, str, bytes]:
    verdict = check()
    body = "ok\n" if verdict.ok else f"{verdict.reason}\n"
    return (200 if verdict.ok else 503), "text/plain; charset=utf-8", body.encode()


def _handler(routes: dict[str, Callable[[], tuple[int, str, bytes]]]
             ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                code, kind, body = 404, "text/plain; charset=utf-8", b"not found\n"
            else:
                code, kind, body = route()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http: " + format, *args)

    return Handler
