"""The endpoints on a real socket: 200 / 503 with the reason, 404, a port already taken."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from edge_runtime.errors import UserError
from edge_runtime.runtime.health import Verdict
from edge_runtime.service.http import EndpointServer, parse_address


def get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_metrics_and_probes() -> None:
    registry = CollectorRegistry()
    Counter("edge_runtime_test", "a test counter", registry=registry).inc(3)
    health = [Verdict(True)]
    server = EndpointServer(("127.0.0.1", 0), registry, lambda: health[0],
                            lambda: Verdict(False, "not running: rear (exhausted)"))
    server.start()
    try:
        port = server.address[1]
        code, kind, body = get(port, "/metrics")
        assert code == 200 and kind.startswith("text/plain") and "edge_runtime_test_total 3.0" \
            in body
        assert get(port, "/healthz")[::2] == (200, "ok\n")
        health[0] = Verdict(False, "lane stuck on one inference: gpu for 4.0 s")
        assert get(port, "/healthz")[::2] == (503, "lane stuck on one inference: gpu for 4.0 s\n")
        assert get(port, "/readyz?verbose")[::2] == (503, "not running: rear (exhausted)\n")
        assert get(port, "/")[0] == 404
    finally:
        server.close()


def test_a_taken_port_is_one_line_naming_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=r"cannot listen on 127.0.0.1:\d+.*--metrics off"):
            EndpointServer(("127.0.0.1", port), CollectorRegistry(), lambda: Verdict(True),
                           lambda: Verdict(True))


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9477", ("127.0.0.1", 9477)), (":0", ("127.0.0.1", 0)),
    ("0.0.0.0:80", ("0.0.0.0", 80)), ("[::1]:9000", ("::1", 9000))])
def test_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9477", "localhost:", "host:port", "h:70000"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(UserError, match="is not HOST:PORT"):
        parse_address(text)
