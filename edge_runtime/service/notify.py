"""The systemd notification protocol (``sd_notify(3)``), in a few lines of stdlib.

systemd passes a datagram socket in ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) and, when the unit has ``WatchdogSec=``, the interval in ``$WATCHDOG_USEC`` (and the
pid it applies to in ``$WATCHDOG_PID``). A service sends newline-separated ``KEY=value``
assignments: ``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``RELOADING=1``, ``STOPPING=1``.
Without ``$NOTIFY_SOCKET`` (run by hand, in a container) every send is a no-op, so the service
code never asks whether it runs under systemd. No library: libsystemd's Python bindings are not
on PyPI for every platform, and the protocol is one ``sendto``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger("edge_runtime.service")


class Notifier:
    """Sends state changes to the service manager, if there is one."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        self.failed = False
        if address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (keyword names are the keys); False if it could not be
        sent. A lost notification is logged once, never raised: the service keeps running
        and systemd's timeouts take over."""
        if self._socket is None or self.address is None:
            return False
        message = "\n".join(f"{key}={_one_line(str(value))}" for key, value in fields.items())
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            self._socket.sendto(message.encode(), address)
        except OSError as exc:
            if not self.failed:
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
            self.failed = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY=1, STATUS=status)

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def reloading(self) -> bool:
        """``RELOADING=1`` with the ``MONOTONIC_USEC`` that systemd 253+ wants beside it."""
        return self.send(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                         // 1000, STATUS="reloading the pipeline set")

    def stopping(self) -> bool:
        return self.send(STOPPING=1, STATUS="stopping: draining in-flight frames")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval_s(env: Mapping[str, str] | None = None,
                        pid: int | None = None) -> float | None:
    """The watchdog interval systemd expects pings within, or None when there is none (no
    ``WatchdogSec=``, a malformed value, or a ``$WATCHDOG_PID`` naming another process)."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1e6


def _one_line(value: str) -> str:
    """A value may not contain a newline (it would start a new assignment)."""
    return " ".join(value.splitlines())
