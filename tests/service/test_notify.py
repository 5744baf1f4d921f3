"""sd_notify over a real datagram socket: path and abstract addresses, the watchdog interval."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from edge_runtime.service.notify import Notifier, watchdog_interval_s


def receive(server: socket.socket) -> dict[str, str]:
    data = server.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def test_ready_and_status_arrive_as_one_datagram_on_a_path_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(path)})
        assert notifier.ready("40W: 3/3 pipelines\nrunning")
        assert receive(server) == {"READY": "1", "STATUS": "40W: 3/3 pipelines running"}
        assert notifier.reloading()
        reloading = receive(server)
        assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
        notifier.close()


def test_an_abstract_socket_address() -> None:
    name = f"edge-runtime-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        notifier = Notifier(f"@{name}")
        assert notifier.send(WATCHDOG=1)
        assert receive(server) == {"WATCHDOG": "1"}


def test_without_a_socket_every_send_is_a_no_op() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled and not notifier.ready("x") and not notifier.stopping()


def test_a_vanished_socket_is_logged_once_and_never_raised(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert not notifier.send(WATCHDOG=1) and not notifier.send(WATCHDOG=1)
    assert caplog.text.count("cannot notify systemd") == 1


@pytest.mark.parametrize(("env", "expected"), [
    ({"WATCHDOG_USEC": "10000000"}, 10.0),
    ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1234"}, 3.0),
    ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "999"}, None),  # another process's
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "ten"}, None),
    ({}, None),
])
def test_the_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval_s(env, pid=1234) == expected
